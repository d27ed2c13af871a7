"""The ``flytekit.plugins`` entry point of the MMCloud serverless connector.

flytekit imports every ``flytekit.plugins`` entry point inside its own ``import flytekit``, with no
error handling: a plugin that fails to import breaks flytekit for the whole environment. This
module has a name no user package will share (unlike ``connector``), so it always imports; it then
loads ``connector.flytekit_entry`` (registration of ``MMCloudConnector`` and ``MMCloudTask``) and,
if that cannot work here, warns instead of raising.
"""

from __future__ import annotations

import logging
from importlib import import_module, metadata

#: The flytekit release the adapter is written against (``AsyncConnectorBase``, 1.16's registry);
#: the ``flytekit`` extra in pyproject.toml requires the same (a test keeps them together).
SUPPORTED_FLYTEKIT = (1, 16)

log = logging.getLogger(__name__)


def _flytekit_release() -> tuple[int, int] | None:
    try:
        major, minor = metadata.version("flytekit").split(".")[:2]
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def load() -> bool:
    """Register the connector with flytekit; False (with a warning) where it cannot be."""
    release = _flytekit_release()
    if release != SUPPORTED_FLYTEKIT:
        log.warning(
            "MMCloud serverless connector: not registered with flytekit %s; it supports %d.%d",
            ".".join(map(str, release)) if release else "(version unknown)",
            *SUPPORTED_FLYTEKIT,
        )
        return False
    try:
        import_module("connector.flytekit_entry")
    except ImportError as exc:  # e.g. another package named ``connector`` earlier on sys.path
        log.warning("MMCloud serverless connector: not registered with flytekit (%s)", exc)
        return False
    return True


load()
