"""What the ``flytekit.plugins`` entry point loads (through ``mmcloud_flytekit_entry``, which
guards it): ``import flytekit`` imports this module.

Importing it registers ``MMCloudConnector`` for ``mmcloud_task`` (replacing the upstream plugin's
when both are installed) and ``MMCloudTask`` for ``MMCloudConfig``, so ``pyflyte serve connector``
serves the connector without ``--modules`` and local ``pyflyte run`` finds it.

Only plain ``import`` statements here: flytekit loads entry points at the end of its own
``__init__``, which may be running *because* one of these modules started importing flytekit.
Such a module is then half-initialised; ``import a.b`` tolerates that (it finishes and registers
itself afterwards), ``from a.b import name`` would raise.
"""

from __future__ import annotations

import connector.flytekit_connector
import connector.flytekit_task  # noqa: F401
