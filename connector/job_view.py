"""What a person sees of an MMCloud job in Flyte: phase, message, console link and job facts."""

from __future__ import annotations

import re
from typing import Any

from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution, TaskLog
from google.protobuf.struct_pb2 import Struct

from connector.opcenter.statuses import PhaseInfo, phase_for
from connector.opcenter.wire import Job

_COST = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]{3})\s*$")


def resource_for(
    job_id: str, job: dict[str, Any], console_url: str | None = None
) -> agent_pb2.Resource:
    """The Flyte view of an OpCenter job record."""
    status = str(job.get(Job.STATUS, ""))
    info = phase_for(status)
    rc = job.get(Job.RC)
    if info.phase == TaskExecution.SUCCEEDED and rc not in (None, "", "0", 0):
        info = PhaseInfo(TaskExecution.FAILED, "completed with a non-zero exit code")
    message = f"MMCloud job {job_id} is {status or 'without status'}: {info.explanation}"
    if info.phase in (TaskExecution.FAILED, TaskExecution.RETRYABLE_FAILED) and rc is not None:
        message += f" (rc {rc})"
    resource = agent_pb2.Resource(phase=info.phase, message=message)
    if console_url:
        resource.log_links.append(
            TaskLog(uri=console_url, name=f"MMCloud job {job_id}", ShowWhilePending=True)
        )
    resource.custom_info.CopyFrom(custom_info(job_id, job))
    return resource


def custom_info(job_id: str, job: dict[str, Any]) -> Struct:
    """Job facts for the Flyte console: where it ran, what it used, what it cost."""
    info: dict[str, Any] = {"jobId": job_id, "status": job.get(Job.STATUS)}
    for key, field in (
        ("host", Job.WORKING_HOST),
        ("instanceType", Job.INSTANCE_TYPE),
        ("rc", Job.RC),
        ("submitTime", Job.SUBMIT_TIME),
        ("execTime", Job.EXEC_TIME),
        ("endTime", Job.END_TIME),
    ):
        if job.get(field) not in (None, ""):
            info[key] = str(job[field])
    core_hours = _number(job.get(Job.CORE_HOURS))
    if core_hours is not None:
        info["coreHours"] = core_hours
    cost = parse_cost(job.get(Job.COST))
    if cost is not None:
        info["cost"] = cost
    struct = Struct()
    struct.update({k: v for k, v in info.items() if v is not None})
    return struct


def parse_cost(value: Any) -> dict[str, Any] | None:
    """``"0.0017 USD"`` -> ``{"amount": 0.0017, "currency": "USD"}``; other text is kept as is."""
    if value in (None, ""):
        return None
    match = _COST.match(str(value))
    if match is None:
        return {"text": str(value)}
    return {"amount": float(match.group(1)), "currency": match.group(2).upper()}


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
