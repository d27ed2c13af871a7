"""What flytekit users import: the config, the task, the connector (upstream's names).

Importing it registers the connector and the task plugin, as the ``flytekit.plugins`` entry point
(``connector/flytekit_entry.py``) does whenever flytekit is imported with this package installed::

    from connector.flytekit_plugin import MMCloudConfig, VMPolicy

    @task(task_config=MMCloudConfig(vm_policy=VMPolicy.SPOT_FIRST), requests=Resources(cpu="2"))
    def train(...): ...
"""

from __future__ import annotations

from connector.flytekit_connector import MMCloudConnector, MMCloudMetadata
from connector.flytekit_task import MMCloudTask
from connector.task_config import MigratePolicy, MMCloudConfig, VMPolicy

__all__ = [
    "MMCloudConfig",
    "MMCloudConnector",
    "MMCloudMetadata",
    "MMCloudTask",
    "MigratePolicy",
    "VMPolicy",
]
