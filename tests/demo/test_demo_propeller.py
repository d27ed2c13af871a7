"""Propeller's side, without the app: args rendering, inputs, environment, running the job
command locally, and the HTTP calls against a scripted transport."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, tasks_pb2
from google.protobuf import json_format

from demo.constants import DOMAIN, NAMESPACE, PROJECT, TASK_TYPE
from demo.propeller import (
    REPO_ROOT,
    ConnectorCallError,
    ConnectorClient,
    ExecutionIdentity,
    ExecutionPaths,
    ProgressReporter,
    TaskTimeoutError,
    TemplateError,
    inputs_to_literal_map,
    outputs_to_python,
    prepare_execution,
    read_error_document,
    read_literal_map,
    render_args,
    resource_phase,
    run_container_locally,
    serialize_task,
    template_values,
    wait_for_terminal,
    with_container_env,
)
from examples.workflows import fail_on_purpose, word_stats

PHASE = execution_pb2.TaskExecution
FOX = "The quick brown fox jumps over the lazy dog"


# --- rendering ----------------------------------------------------------------------------------


def test_rendering_the_serialised_args_leaves_no_template_variable(tmp_path: Path) -> None:
    identity = ExecutionIdentity(name="dexample")
    paths = ExecutionPaths(tmp_path / "dexample")
    args = list(serialize_task(word_stats).container.args)
    assert any("{{" in arg for arg in args)

    rendered = render_args(args, template_values(paths, identity))

    assert not [arg for arg in rendered if "{{" in arg or "}}" in arg]
    assert rendered[rendered.index("--inputs") + 1] == str(paths.inputs)
    assert rendered[rendered.index("--output-prefix") + 1] == str(paths.output_prefix)
    assert rendered[rendered.index("--raw-output-data-prefix") + 1] == str(paths.raw_output_prefix)
    assert rendered[rendered.index("--checkpoint-path") + 1] == str(paths.checkpoint_prefix)
    assert rendered[rendered.index("--prev-checkpoint") + 1] == ""


def test_rendering_is_case_and_space_insensitive_like_propeller() -> None:
    values = {"input": "a", "outputPrefix": "b"}
    assert render_args(["{{ .Input }}", "x{{$outputprefix}}y"], values) == ["a", "xby"]


def test_rendering_fills_input_values() -> None:
    literals = inputs_to_literal_map(word_stats, {"text": "hello"})
    assert render_args(["--text={{.inputs.text}}"], {}, literals) == ["--text=hello"]


def test_an_unknown_template_variable_is_an_error_not_left_behind() -> None:
    with pytest.raises(TemplateError, match=r"\{\{\.nope\}\}"):
        render_args(["{{.nope}}"], {"input": "a"})


# --- preparing an execution -------------------------------------------------------------------


def test_prepare_writes_inputs_and_renders_a_runnable_template(tmp_path: Path) -> None:
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path, execution_name="dprep")

    literals = read_literal_map(execution.paths.inputs)
    assert literals.literals["text"].scalar.primitive.string_value == FOX
    assert execution.inputs == literals
    args = list(execution.template.container.args)
    assert not [arg for arg in args if "{{" in arg]
    assert str(tmp_path / "dprep" / "inputs.pb") in args
    env = execution.env
    assert env["PYTHONPATH"] == str(REPO_ROOT)
    assert (Path(env["PATH"].split(os.pathsep)[0]) / "pyflyte-execute").exists()
    assert env["FLYTE_INTERNAL_EXECUTION_ID"] == "dprep"


def test_prepare_builds_propeller_style_metadata(tmp_path: Path) -> None:
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path, execution_name="dmeta")

    task_execution_id = execution.metadata.task_execution_id
    workflow_execution = task_execution_id.node_execution_id.execution_id
    assert (workflow_execution.project, workflow_execution.domain) == (PROJECT, DOMAIN)
    assert workflow_execution.name == "dmeta"
    assert task_execution_id.node_execution_id.node_id == "n0"
    assert task_execution_id.retry_attempt == 0
    assert task_execution_id.task_id.name == "examples.workflows.word_stats"
    assert execution.metadata.namespace == NAMESPACE
    assert execution.metadata.labels["execution-id"] == "dmeta"


def test_create_request_goes_out_as_proto3_json(tmp_path: Path) -> None:
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path, execution_name="djson")

    body = json.loads(json_format.MessageToJson(execution.create_request()))

    assert body["outputPrefix"] == str(tmp_path / "djson" / "out")
    assert body["template"]["type"] == TASK_TYPE
    task_execution_id = body["taskExecutionMetadata"]["taskExecutionId"]
    assert task_execution_id["nodeExecutionId"]["executionId"]["name"] == "djson"
    assert "retryAttempt" not in task_execution_id  # proto3 JSON leaves out the zero attempt
    assert body["inputs"]["literals"]["text"]["scalar"]["primitive"]["stringValue"] == FOX


def test_inputs_that_do_not_match_the_interface_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown \\['txt'\\], missing \\['text'\\]"):
        prepare_execution(word_stats, {"txt": FOX}, tmp_path)


def test_the_tasks_own_env_entries_win_over_the_deployments() -> None:
    template = tasks_pb2.TaskTemplate()
    template.container.env.add(key="PATH", value="/task/bin")

    merged = with_container_env(template, {"PATH": "/deploy/bin", "PYTHONPATH": "/repo"})

    assert {e.key: e.value for e in merged.container.env} == {
        "PATH": "/task/bin",
        "PYTHONPATH": "/repo",
    }
    assert len(template.container.env) == 1  # the input template is left alone


# --- running the rendered command here, as the emulated MMCloud job does ------------------------


def test_the_rendered_command_runs_and_writes_the_outputs(tmp_path: Path) -> None:
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path / "blobs")
    workdir = tmp_path / "job"
    workdir.mkdir()

    done = run_container_locally(execution.template, cwd=workdir)

    assert done.returncode == 0, done.stderr[-2000:]
    outputs = outputs_to_python(word_stats, read_literal_map(execution.paths.outputs))
    assert outputs == {"words": 9, "unique": 8, "longest": "quick"}


def test_without_the_deployment_env_the_command_cannot_run(tmp_path: Path) -> None:
    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path / "blobs")
    bare = tasks_pb2.TaskTemplate()
    bare.CopyFrom(execution.template)
    del bare.container.env[:]
    workdir = tmp_path / "job"
    workdir.mkdir()

    done = run_container_locally(bare, cwd=workdir)

    assert done.returncode == 127, done.stderr  # bash: pyflyte-execute: command not found
    assert not execution.paths.outputs.exists()


def test_a_failing_task_exits_non_zero_and_leaves_its_error(tmp_path: Path) -> None:
    execution = prepare_execution(fail_on_purpose, {"divisor": 0}, tmp_path / "blobs")
    workdir = tmp_path / "job"
    workdir.mkdir()

    done = run_container_locally(execution.template, cwd=workdir)

    assert done.returncode != 0
    error = read_error_document(execution.paths.output_prefix)
    assert error is not None and "divisor must be non-zero" in error
    assert not execution.paths.outputs.exists()


# --- the HTTP calls ------------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> ConnectorClient:
    return ConnectorClient("http://connector.test", transport=httpx.MockTransport(handler))


# Standard base64 of these bytes is "+//+": a path must carry the URL-safe form "-__-".
AWKWARD_META = b"\xfb\xff\xfe"


def test_create_posts_the_request_and_returns_resource_meta(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        meta = base64.b64encode(b'{"job_id": "abc"}').decode()
        return httpx.Response(200, json={"resourceMeta": meta})

    execution = prepare_execution(word_stats, {"text": FOX}, tmp_path)
    with client_for(handler) as client:
        assert client.create_task(execution.create_request()) == b'{"job_id": "abc"}'

    (request,) = seen
    assert (request.method, request.url.path) == ("POST", "/api/v1/agent/task")
    sent = json_format.Parse(request.content, agent_pb2.CreateTaskRequest())
    assert sent == execution.create_request()


def test_get_uses_url_safe_resource_meta_and_query_parameters() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"resource": {"phase": "RUNNING", "message": "hi"}})

    with client_for(handler) as client:
        resource = client.get_task(AWKWARD_META, output_prefix="/blob/x/out")

    assert resource.phase == PHASE.RUNNING and resource.message == "hi"
    (request,) = seen
    assert request.url.path == "/api/v1/agent/task/mmcloud_task/0/-__-"
    assert dict(request.url.params) == {"task_type": "mmcloud_task", "output_prefix": "/blob/x/out"}


def test_delete_calls_the_task_executions_route() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with client_for(handler) as client:
        client.delete_task(AWKWARD_META)

    (request,) = seen
    assert request.method == "DELETE"
    assert request.url.path == "/api/v1/agent/task_executions/mmcloud_task/0/-__-"


def test_an_error_status_body_becomes_a_call_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"code": 5, "message": "no such job", "details": []})

    with client_for(handler) as client, pytest.raises(ConnectorCallError) as caught:
        client.get_task(b"x", output_prefix="/o")

    assert (caught.value.http_status, caught.value.code) == (404, 5)
    assert caught.value.message == "no such job"


def test_legacy_state_is_read_when_phase_is_undefined() -> None:
    assert resource_phase(agent_pb2.Resource(state=agent_pb2.SUCCEEDED)) == PHASE.SUCCEEDED
    assert resource_phase(agent_pb2.Resource(state=agent_pb2.PENDING)) == PHASE.INITIALIZING
    assert (
        resource_phase(agent_pb2.Resource(phase=PHASE.QUEUED, state=agent_pb2.SUCCEEDED))
        == PHASE.QUEUED
    )


# --- waiting -----------------------------------------------------------------------------------


def scripted(responses: list[httpx.Response]) -> Handler:
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return handler


def phase_response(phase: str, message: str = "") -> httpx.Response:
    return httpx.Response(200, json={"resource": {"phase": phase, "message": message}})


def test_wait_prints_one_line_per_phase_change() -> None:
    handler = scripted(
        [
            phase_response("QUEUED", "submitted"),
            phase_response("QUEUED", "submitted"),
            phase_response("INITIALIZING", "starting"),
            phase_response("RUNNING"),
            phase_response("RUNNING"),
            phase_response("SUCCEEDED", "done"),
        ]
    )
    out = io.StringIO()
    reporter = ProgressReporter("t", out, interactive=False)

    with client_for(handler) as client:
        result = wait_for_terminal(
            client, b"m", output_prefix="/o", reporter=reporter, poll_interval=0.01, timeout=10
        )

    assert result.phase == PHASE.SUCCEEDED
    assert result.phases_seen == ["QUEUED", "INITIALIZING", "RUNNING", "SUCCEEDED"]
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert "QUEUED" in lines[0] and "submitted" in lines[0]
    assert "SUCCEEDED" in lines[3] and "done" in lines[3]


def test_wait_gives_up_after_the_timeout_with_a_clear_error() -> None:
    reporter = ProgressReporter("t", io.StringIO(), interactive=False)
    with (
        client_for(scripted([phase_response("RUNNING")])) as client,
        pytest.raises(TaskTimeoutError, match=r"gave up after 0s .*last: RUNNING"),
    ):
        wait_for_terminal(
            client, b"m", output_prefix="/o", reporter=reporter, poll_interval=0.01, timeout=0.05
        )


def test_wait_tolerates_four_get_errors_like_propeller() -> None:
    error = httpx.Response(503, json={"code": 14, "message": "busy"})
    reporter = ProgressReporter("t", io.StringIO(), interactive=False)
    with client_for(scripted([error] * 4 + [phase_response("FAILED", "boom")])) as client:
        result = wait_for_terminal(
            client, b"m", output_prefix="/o", reporter=reporter, poll_interval=0.01, timeout=10
        )
    assert (result.phase, result.get_failures) == (PHASE.FAILED, 4)


def test_wait_fails_on_the_fifth_get_error() -> None:
    error = httpx.Response(503, json={"code": 14, "message": "busy"})
    reporter = ProgressReporter("t", io.StringIO(), interactive=False)
    responses = [error] * 5 + [phase_response("SUCCEEDED")]
    client = client_for(scripted(responses))
    with client, pytest.raises(ConnectorCallError, match="busy"):
        wait_for_terminal(
            client, b"m", output_prefix="/o", reporter=reporter, poll_interval=0.01, timeout=10
        )


def test_progress_is_a_spinner_on_a_tty_and_sparse_lines_otherwise() -> None:
    tty = io.StringIO()
    spinner = ProgressReporter("t", tty, interactive=True)
    spinner.tick("RUNNING", 0.5)
    spinner.phase("SUCCEEDED", "", 1.0)
    assert tty.getvalue().startswith("\r")
    assert tty.getvalue().count("\n") == 1  # the spinner never adds lines

    plain = io.StringIO()
    lines = ProgressReporter("t", plain, interactive=False, heartbeat_s=5)
    lines.tick("RUNNING", 1.0)
    assert plain.getvalue() == ""
    lines.tick("RUNNING", 6.0)
    assert plain.getvalue().strip().endswith("... still RUNNING")
    assert "\r" not in plain.getvalue()
