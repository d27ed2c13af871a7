"""Local ``pyflyte run`` of a task declared with our ``MMCloudConfig`` goes through the connector:
the task runs as an OpCenter (emulator) job, its output comes back, Ctrl-C cancels the job."""

from __future__ import annotations

import re
import signal
import subprocess
import time

from flytekit_helpers import BIN_DIR, REPO_ROOT, OpCenterView, child_env

from demo.stack import LocalStack

EXAMPLE = "examples/connector_workflows.py"
_JOB_LINE = re.compile(r"examples\.connector_workflows\.(\w+)\s+is\s+MMCloud\s+job\s+(\w{21})")


def _env(stack: LocalStack) -> dict[str, str]:
    return child_env(
        {
            "MMC_ADDRESS": stack.emulator_url,
            "MMC_USERNAME": stack.username,
            "MMC_PASSWORD": stack.password,
            "MMC_EMULATED_JOBS": "1",  # the example points the job at this venv and checkout
            "FLYTE_SDK_LOGGING_LEVEL": "20",  # INFO: the connector logs the job id
        }
    )


def _pyflyte_run(*args: str) -> list[str]:
    return [str(BIN_DIR / "pyflyte"), "run", EXAMPLE, *args]


def test_the_workflow_runs_its_mmcloud_task_as_an_emulator_job(
    stack: LocalStack, opcenter_view: OpCenterView
) -> None:
    before = set(opcenter_view.jobs())

    result = subprocess.run(
        _pyflyte_run("word_stats_wf", "--text", "to be or not to be"),
        cwd=REPO_ROOT,
        env=_env(stack),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "6 words, 4 distinct, longest word 'not'"
    submitted = _JOB_LINE.findall(output)
    assert [task for task, _ in submitted] == ["word_stats"]  # describe ran in-process
    job_id = submitted[0][1]
    jobs = opcenter_view.jobs()
    assert set(jobs) - before == {job_id}
    job = jobs[job_id]
    assert job["status"] == "Completed"
    assert job["customTags"] == {
        "flyte-task": "examples.connector_workflows.word_stats",
        "team": "examples",
    }
    # The typed config fields reached OpCenter as request fields.
    assert job["vmPolicy"] == "[onDemand=true]"
    assert (job["cpu"], job["memGB"]) == (1, 1)


def test_ctrl_c_cancels_the_job(stack: LocalStack, opcenter_view: OpCenterView) -> None:
    before = set(opcenter_view.jobs())
    process = subprocess.Popen(
        _pyflyte_run("sleepy", "--seconds", "120"),
        cwd=REPO_ROOT,
        env=_env(stack),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        job_id = None
        while job_id is None:
            assert time.monotonic() < deadline, "no sleepy job appeared"
            running = [
                job["id"]
                for job in opcenter_view.jobs().values()
                if job["id"] not in before
                and job["customTags"].get("flyte-task") == "examples.connector_workflows.sleepy"
                and job["status"] == "Executing"
            ]
            job_id = running[0] if running else None
            time.sleep(0.3)

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    job = opcenter_view.wait_for(job_id, lambda j: j["status"] == "Cancelled", timeout=30)
    assert job["status"] == "Cancelled"
    assert process.returncode != 0
    assert "cannot be called from a running event loop" not in output
