"""The connector's operations on flyteidl messages, shared by every front end (HTTP, gRPC, SDK)."""

from __future__ import annotations

import logging
from typing import Any

from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution

from connector.errors import Code, ConnectorError, NotFound, OpCenterError
from connector.failure import failure_details
from connector.job_request import job_request
from connector.job_view import resource_for
from connector.logs import LOG_NAMES, Cursor, log_responses
from connector.metadata import MMCloudMetadata
from connector.metrics import check_request, metrics_response
from connector.opcenter import wire
from connector.opcenter.client import OpCenterClient
from connector.opcenter.statuses import phase_for

log = logging.getLogger(__name__)

# Errors worth retrying later: a poll should report them as "still running", not fail the task.
_TRANSIENT = {Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED}


class Operations:
    """Create, get and delete MMCloud jobs for Flyte tasks. Stateless: all it needs is the meta."""

    def __init__(
        self, client: OpCenterClient, *, console_url: str = wire.CONSOLE_URL_TEMPLATE
    ) -> None:
        self.client = client
        self.console_url = console_url

    async def create(self, request: agent_pb2.CreateTaskRequest) -> agent_pb2.CreateTaskResponse:
        metadata = (
            request.task_execution_metadata if request.HasField("task_execution_metadata") else None
        )
        body = job_request(request.template, metadata)
        job = await self.client.submit(body)
        job_id = job.get(wire.Job.ID)
        if not isinstance(job_id, str):
            raise OpCenterError("OpCenter accepted the job but returned no job id")
        meta = MMCloudMetadata(job_id=job_id)
        log.info("submitted task %s as MMCloud job %s", request.template.id.name, job_id)
        return agent_pb2.CreateTaskResponse(resource_meta=meta.encode())

    async def get(self, request: agent_pb2.GetTaskRequest) -> agent_pb2.GetTaskResponse:
        meta = MMCloudMetadata.decode(request.resource_meta)
        try:
            job = await self._show(meta.job_id)
        except ConnectorError as exc:  # OpCenter, or the secrets needed to reach it
            if exc.code not in _TRANSIENT:
                raise
            # FlytePropeller fails a task after 5 GetTask errors in its lifetime: ride it out.
            log.warning("job %s: status unavailable, reporting RUNNING: %s", meta.job_id, exc)
            return agent_pb2.GetTaskResponse(
                resource=agent_pb2.Resource(
                    phase=TaskExecution.RUNNING,
                    message=f"status unknown for now ({exc.message}); will ask again",
                )
            )
        console = self.console_url.format(address=await self.client.address(), job_id=meta.job_id)
        resource = resource_for(meta.job_id, job, console)
        if resource.phase in (TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED):
            details = await self._failure_details(meta.job_id)
            if details:
                resource.message += f"\n{details}"
        return agent_pb2.GetTaskResponse(resource=resource)

    async def _failure_details(self, job_id: str) -> str:
        """Why the job failed, from its stderr, so the Flyte console says so; best effort."""
        try:
            stderr = await self.client.log_bytes(job_id, wire.STDERR_LOG)
        except ConnectorError as exc:
            log.info("job %s: no stderr to quote (%s)", job_id, exc.message)
            return ""
        return failure_details(stderr.decode(errors="replace"))

    async def get_logs(
        self, request: agent_pb2.GetTaskLogsRequest
    ) -> list[agent_pb2.GetTaskLogsResponse]:
        """The job's stdout and stderr: a header with a continuation token, then body messages."""
        meta = MMCloudMetadata.decode(request.resource_meta)
        if request.token:
            Cursor.decode(request.token)  # a bad token is the caller's error: say so first
        job = await self._show(meta.job_id)
        files = {name: await self.client.log_bytes(meta.job_id, name) for name in LOG_NAMES}
        finished = phase_for(str(job.get(wire.Job.STATUS, ""))).terminal
        return log_responses(files, lines=request.lines, token=request.token, finished=finished)

    async def get_metrics(
        self, request: agent_pb2.GetTaskMetricsRequest
    ) -> agent_pb2.GetTaskMetricsResponse:
        """CPU and memory used over time, and the core hours and cost OpCenter counted."""
        meta = MMCloudMetadata.decode(request.resource_meta)
        check_request(request)  # before any call to OpCenter
        job = await self._show(meta.job_id)
        samples = await self.client.samples(meta.job_id)
        return metrics_response(request, meta.job_id, job, samples)

    async def _show(self, job_id: str) -> dict[str, Any]:
        try:
            return await self.client.show(job_id)
        except OpCenterError as exc:
            if exc.code == Code.NOT_FOUND:
                raise NotFound(f"MMCloud job {job_id} not found on OpCenter") from None
            raise

    async def delete(self, request: agent_pb2.DeleteTaskRequest) -> agent_pb2.DeleteTaskResponse:
        """Cancel the job; succeed for unknown or finished jobs, or an abort could never end."""
        meta = MMCloudMetadata.decode(request.resource_meta)
        try:
            await self.client.cancel(meta.job_id)
            log.info("job %s: cancel requested", meta.job_id)
        except OpCenterError as exc:
            if exc.code == Code.NOT_FOUND:
                log.info("job %s: not on OpCenter; nothing to cancel", meta.job_id)
            elif exc.code == Code.INVALID_ARGUMENT and await self._finished(meta.job_id):
                log.info("job %s: already finished; nothing to cancel", meta.job_id)
            else:
                raise
        return agent_pb2.DeleteTaskResponse()

    async def _finished(self, job_id: str) -> bool:
        try:
            job = await self.client.show(job_id)
        except ConnectorError:
            return False
        status = str(job.get(wire.Job.STATUS, ""))
        return phase_for(status).terminal or status == "Cancelling"
