from flyteidl.core.execution_pb2 import TaskExecution
from flytekitplugins.mmcloud.utils import MMCLOUD_STATUS_TO_FLYTE_PHASE

from connector.opcenter.statuses import STATUS_PHASES, Status, phase_for

P = TaskExecution


def test_every_status_upstream_knows_is_mapped() -> None:
    # Upstream's table lists the 19 statuses OpCenter reports.
    assert set(MMCLOUD_STATUS_TO_FLYTE_PHASE) == set(STATUS_PHASES)
    assert len(STATUS_PHASES) == 19


def test_status_names_match_the_constants() -> None:
    constants = {v for k, v in vars(Status).items() if k.isupper()}
    assert constants == set(STATUS_PHASES)


def test_phases_where_upstream_is_wrong() -> None:
    assert phase_for("Cancelling").phase == P.RUNNING  # not terminal yet
    assert phase_for("Cancelled").phase == P.ABORTED
    assert phase_for("NoAvailableHost").phase == P.RETRYABLE_FAILED
    assert phase_for("WaitingForLicense").phase == P.WAITING_FOR_RESOURCES
    assert phase_for("Submitted").phase == P.QUEUED
    assert phase_for("Completed").phase == P.SUCCEEDED
    assert phase_for("FailToExecute").phase == P.FAILED


def test_unseen_status_is_non_terminal_with_a_message_naming_it() -> None:
    info = phase_for("Hibernating")
    assert info.phase == P.RUNNING
    assert not info.terminal
    assert "'Hibernating'" in info.explanation
    assert phase_for("").phase == P.RUNNING


def test_every_phase_has_an_explanation() -> None:
    assert all(info.explanation for info in STATUS_PHASES.values())
