"""OpCenter job statuses and the one map from them to Flyte task phases.

Every public MMCloud client crashes or misbehaves on a status it has not seen. Here any string maps
to a defined phase: an unseen one is reported as still running, with a message naming it, so that
FlytePropeller keeps polling instead of burning its GetTask error budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from flyteidl.core.execution_pb2 import TaskExecution


class Status:
    """The 19 status strings OpCenter is known to report."""

    SUBMITTED: Final = "Submitted"
    INITIALIZING: Final = "Initializing"
    STARTING: Final = "Starting"
    EXECUTING: Final = "Executing"
    CAPTURING: Final = "Capturing"
    FLOATING: Final = "Floating"
    SUSPENDED: Final = "Suspended"
    SUSPENDING: Final = "Suspending"
    RESUMING: Final = "Resuming"
    COMPLETED: Final = "Completed"
    CANCELLED: Final = "Cancelled"
    CANCELLING: Final = "Cancelling"
    FAIL_TO_COMPLETE: Final = "FailToComplete"
    FAIL_TO_EXECUTE: Final = "FailToExecute"
    CHECKPOINT_FAILED: Final = "CheckpointFailed"
    TIMEDOUT: Final = "Timedout"
    NO_AVAILABLE_HOST: Final = "NoAvailableHost"
    UNKNOWN: Final = "Unknown"
    WAITING_FOR_LICENSE: Final = "WaitingForLicense"


@dataclass(frozen=True)
class PhaseInfo:
    phase: int  # a flyteidl TaskExecution.Phase value
    explanation: str

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES


P = TaskExecution
TERMINAL_PHASES: Final = frozenset({P.SUCCEEDED, P.FAILED, P.ABORTED, P.RETRYABLE_FAILED})

STATUS_PHASES: Final[dict[str, PhaseInfo]] = {
    Status.SUBMITTED: PhaseInfo(P.QUEUED, "submitted to OpCenter, waiting to be scheduled"),
    Status.INITIALIZING: PhaseInfo(P.INITIALIZING, "OpCenter is provisioning a host"),
    Status.STARTING: PhaseInfo(P.INITIALIZING, "the job's container is starting"),
    Status.EXECUTING: PhaseInfo(P.RUNNING, "executing"),
    Status.CAPTURING: PhaseInfo(P.RUNNING, "running; OpCenter is capturing a checkpoint"),
    Status.FLOATING: PhaseInfo(P.RUNNING, "running; OpCenter is migrating the job to another host"),
    Status.SUSPENDING: PhaseInfo(P.RUNNING, "OpCenter is suspending the job"),
    Status.SUSPENDED: PhaseInfo(P.RUNNING, "suspended by OpCenter; it resumes on its own"),
    Status.RESUMING: PhaseInfo(P.RUNNING, "resuming after a suspension"),
    # Not terminal: the job may still be running until OpCenter reports Cancelled.
    Status.CANCELLING: PhaseInfo(P.RUNNING, "OpCenter is cancelling the job"),
    Status.WAITING_FOR_LICENSE: PhaseInfo(
        P.WAITING_FOR_RESOURCES, "waiting for an MMCloud license to become free"
    ),
    Status.COMPLETED: PhaseInfo(P.SUCCEEDED, "completed"),
    Status.CANCELLED: PhaseInfo(P.ABORTED, "cancelled"),
    Status.FAIL_TO_COMPLETE: PhaseInfo(P.FAILED, "the job did not complete"),
    Status.FAIL_TO_EXECUTE: PhaseInfo(P.FAILED, "the job's command failed"),
    Status.CHECKPOINT_FAILED: PhaseInfo(P.FAILED, "OpCenter failed to checkpoint the job"),
    Status.TIMEDOUT: PhaseInfo(P.FAILED, "the job exceeded its time limit"),
    # Spot capacity: another attempt may well find a host.
    Status.NO_AVAILABLE_HOST: PhaseInfo(
        P.RETRYABLE_FAILED, "no host with the requested resources was available"
    ),
    # OpCenter lost track of the job for now; it may come back, so keep polling.
    Status.UNKNOWN: PhaseInfo(P.RUNNING, "OpCenter reports the job's state as Unknown"),
}


def phase_for(status: str) -> PhaseInfo:
    """Map any status string, seen or not, to a phase without raising."""
    known = STATUS_PHASES.get(status)
    if known is not None:
        return known
    return PhaseInfo(
        P.RUNNING,
        f"OpCenter reported status {status!r}, which this connector does not know; "
        "treating the job as still running",
    )


def phase_name(phase: int) -> str:
    """The phase as flyteidl spells it (e.g. ``SUCCEEDED``)."""
    return TaskExecution.Phase.Name(phase)
