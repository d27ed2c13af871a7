"""Settings from flags and environment, and the RPC table built from flyteidl's descriptors."""

from __future__ import annotations

import pytest
from flyteidl.admin import agent_pb2

from handler.gateway.forward import prepare
from handler.gateway.server import SERVICES, served_routes, server_options, task_type_of
from handler.gateway.settings import GatewaySettings, env_name, parse_settings
from handler.routes import BY_RPC


def test_flags_win_over_environment_which_wins_over_defaults() -> None:
    env = {
        "MMCLOUD_GATEWAY_TARGET_URL": "https://x.lambda-url.eu-west-1.on.aws",
        "MMCLOUD_GATEWAY_PORT": "9000",
        "MMCLOUD_GATEWAY_DEFAULT_DEADLINE": "4.5",
        "MMCLOUD_GATEWAY_UNSIGNED": "true",
    }
    settings = parse_settings(["--port", "7000"], env)

    assert settings.port == 7000
    assert settings.default_deadline_s == 4.5
    assert settings.unsigned is True
    assert settings.retries == 3 and settings.metrics_port == 9090
    assert env_name("default_deadline_s") == "MMCLOUD_GATEWAY_DEFAULT_DEADLINE"


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no target
        ["--target-url", "ftp://x"],
        ["--target-url", "http://x", "--port", "70000"],
        ["--target-url", "http://x", "--retries", "many"],
        ["--target-url", "http://x", "--default-deadline", "0"],
    ],
)
def test_bad_settings_stop_with_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_settings(argv, {})
    assert stopped.value.code == 2


def test_every_agent_rpc_is_served_from_the_route_table() -> None:
    served = served_routes()

    assert list(served) == list(SERVICES)
    names = {route.rpc for routes in served.values() for route in routes}
    assert names == set(BY_RPC)
    assert [r.rpc for rs in served.values() for r in rs if r.streaming] == ["GetTaskLogs"]


def test_task_type_comes_from_the_template_or_the_category() -> None:
    create = agent_pb2.CreateTaskRequest()
    create.template.type = "mmcloud_task"
    assert task_type_of(create) == "mmcloud_task"
    assert task_type_of(agent_pb2.GetTaskRequest(task_type="old_style")) == "old_style"
    assert task_type_of(agent_pb2.ListAgentsRequest()) == ""


def test_requests_are_built_by_the_codec_with_a_strictly_encoded_path() -> None:
    request = agent_pb2.DeleteTaskRequest(
        task_category=agent_pb2.TaskCategory(name="mmcloud_task"), resource_meta=b'{"j": 1}'
    )
    call = prepare("https://api.example.com/prod/", BY_RPC["DeleteTask"], request)

    assert call.method == "DELETE"
    # base64 of the bytes is eyJqIjogMX0= ; its padding travels as %3D
    assert (
        call.url
        == "https://api.example.com/prod/api/v1/agent/task_executions/mmcloud_task/0/eyJqIjogMX0%3D"
    )
    assert call.body == b""


def test_keepalive_options_are_set_from_settings() -> None:
    options = dict(server_options(GatewaySettings(target_url="http://x", keepalive_time_s=20)))
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.max_connection_idle_ms"] > 0 and options["grpc.max_connection_age_ms"] > 0
