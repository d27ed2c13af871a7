"""``MMCloudTask``: what ``@task(task_config=MMCloudConfig(...))`` becomes.

Serialised, it is exactly an upstream MMCloud task: type ``mmcloud_task``, ``custom`` =
``{"submit_extra": str, "resources": [min_cpu, min_mem_gib, max_cpu, max_mem_gib]}``. Unlike the
upstream task, a *local* run (``pyflyte run``, or calling the task in a test) goes through the
connector as FlytePropeller would (create, poll, delete on Ctrl-C) against the configured OpCenter,
instead of running the function in-process; inside the MMCloud job (``pyflyte-execute``) it runs
the function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from flytekit.configuration import SerializationSettings
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.resources import Resources, ResourceSpec
from flytekit.extend import TaskPlugins
from flytekit.extend.backend.base_connector import AsyncConnectorExecutorMixin, ResourceMeta
from flytekit.image_spec.image_spec import ImageSpec

# A module import, not `from ... import`: this module may be loaded by the flytekit.plugins entry
# point while connector.flytekit_connector is itself still importing flytekit (circular).
import connector.flytekit_connector as flytekit_connector
from connector.job_request import TASK_TYPE
from connector.task_config import MMCloudConfig
from connector.task_resources import MMCloudResources, flyte_to_mmcloud_resources


class MMCloudTask(AsyncConnectorExecutorMixin, PythonFunctionTask[MMCloudConfig]):
    """A Python function run as a Memory Machine Cloud job.

    ``requests``/``limits`` (or ``resources=``, request and limit in one) become the job's
    minimum and maximum cores and GiB, as upstream maps them. They are not set on the container:
    FlytePropeller would impose them on the connector call, where they do not apply.
    """

    _TASK_TYPE = TASK_TYPE

    def __init__(
        self,
        task_config: MMCloudConfig | None,
        task_function: Callable[..., Any],
        container_image: str | ImageSpec | None = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        resources: Resources | None = None,
        **kwargs: Any,
    ) -> None:
        config = task_config if task_config is not None else MMCloudConfig()
        if not isinstance(config, MMCloudConfig):
            raise TypeError(f"task_config must be an MMCloudConfig, got {type(config).__name__}")
        super().__init__(
            task_config=config,
            task_type=self._TASK_TYPE,
            task_function=task_function,
            container_image=container_image,
            **kwargs,
        )
        try:
            requests, limits = _requests_and_limits(requests, limits, resources)
            self._mmcloud_resources: MMCloudResources = flyte_to_mmcloud_resources(requests, limits)
        except ValueError as exc:
            raise ValueError(f"MMCloud task {self.name}: {exc}") from None

    @property
    def mmcloud_resources(self) -> MMCloudResources:
        return self._mmcloud_resources

    def execute(self, **kwargs: Any) -> Any:
        """Locally: submit through the connector and wait. In the job: run the function."""
        state = FlyteContextManager.current_context().execution_state
        if state is not None and state.is_local_execution():
            flytekit_connector.ensure_registered()
            return AsyncConnectorExecutorMixin.execute(self, **kwargs)
        return PythonFunctionTask.execute(self, **kwargs)

    def connector_signal_handler(
        self, resource_meta: ResourceMeta, signum: int, frame: FrameType | None
    ) -> None:
        """Ctrl-C during a local run: cancel the job, then let the poll loop exit.

        flytekit's handler calls ``asyncio.run(delete)`` on the main thread, but the signal lands
        while the local connector loop is running there (it polls inside it), so ``asyncio.run``
        raises and the job is left running. Run the cancel on a thread with its own loop instead.
        """
        delete = self._connector.delete(resource_meta=resource_meta)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, delete).result()
        self._clean_up_task = True

    def get_custom(self, settings: SerializationSettings) -> dict[str, Any]:
        """The upstream plugin's ``custom``; typed config fields ride in ``submit_extra``."""
        return {
            "submit_extra": self.task_config.rendered_submit_extra(),
            "resources": self._mmcloud_resources.as_custom(),
        }


def _requests_and_limits(
    requests: Resources | None, limits: Resources | None, resources: Resources | None
) -> tuple[Resources | None, Resources | None]:
    if resources is not None:
        if requests is not None or limits is not None:
            raise ValueError("give either resources= or requests=/limits=, not both")
        spec = ResourceSpec.from_multiple_resource(resources)
        requests, limits = spec.requests, spec.limits
    for which, given in (("requests", requests), ("limits", limits)):
        if given is None:
            continue
        if given.gpu:
            raise ValueError(
                f"{which}.gpu: MMCloud picks GPUs with the instance type; set "
                "MMCloudConfig(instance_type=...) or '--gpu-count N' in submit_extra"
            )
        if given.ephemeral_storage:
            raise ValueError(
                f"{which}.ephemeral_storage: MMCloud sizes disks with '--rootVolSize N' or "
                "'--imageVolSize N' (GB) in submit_extra, or a data volume"
            )
    return requests, limits


TaskPlugins.register_pythontask_plugin(MMCloudConfig, MMCloudTask)
