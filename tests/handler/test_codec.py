import base64

import pytest
from flyteidl.admin import agent_pb2

from connector.errors import Code, InvalidArgument
from handler.codec import (
    HTTP_STATUS_BY_CODE,
    code_for_http_status,
    decode_path_bytes,
    encode_path_bytes,
    http_from_request,
    request_from_http,
)
from handler.routes import BY_RPC, ROUTES

META = b'{"job_id": "abcdefghij0123456789K"}'


def test_routes_are_flyteidls_own() -> None:
    # Read the google.api.http annotations out of the flyteidl descriptors themselves.
    from flyteidl.service import agent_pb2 as service
    from google.api import annotations_pb2

    served = {}
    for svc in ("AsyncAgentService", "AgentMetadataService"):
        for method in service.DESCRIPTOR.services_by_name[svc].methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            served[method.name] = (verb.upper(), getattr(rule, verb))
    assert served == {r.rpc: (r.method, r.path) for r in ROUTES}


def test_path_bytes_are_url_safe_and_accept_padding_or_not() -> None:
    data = bytes(range(250, 256)) + META  # forces '-' and '_' in the encoding
    text = encode_path_bytes(data)
    assert "/" not in text and "+" not in text
    assert decode_path_bytes("f", text) == data
    assert decode_path_bytes("f", text.rstrip("=")) == data
    assert decode_path_bytes("f", base64.b64encode(data).decode()) == data


@pytest.mark.parametrize("text", ["***", "a", "abc$"])
def test_bad_path_bytes_name_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        decode_path_bytes("resource_meta", text)
    assert err.value.field == "resource_meta"
    older = agent_pb2.GetTaskRequest(task_type="mmcloud_task", resource_meta=b"m")
    path, _, _ = http_from_request(BY_RPC["GetTask"], older)
    assert path.startswith("/api/v1/agent/task/mmcloud_task/0/")


def test_get_task_request_from_path_and_query() -> None:
    route = BY_RPC["GetTask"]
    params = {
        "task_category__name": "mmcloud_task",
        "task_category__version": "0",
        "resource_meta": encode_path_bytes(META).rstrip("="),
    }
    msg = request_from_http(
        route, params, [("output_prefix", "s3://b/o"), ("task_type", "t")], None
    )
    assert msg == agent_pb2.GetTaskRequest(
        task_type="t",
        resource_meta=META,
        task_category=agent_pb2.TaskCategory(name="mmcloud_task", version=0),
        output_prefix="s3://b/o",
    )


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ([("nope", "1")], "nope"),
        ([("output_prefix", "a"), ("output_prefix", "b")], "output_prefix"),
        ([("resource_meta", "eA")], "resource_meta"),
    ],
)
def test_bad_query_parameters_are_named(query, named: str) -> None:
    params = {"task_category__name": "x", "task_category__version": "0", "resource_meta": "eA"}
    with pytest.raises(InvalidArgument) as err:
        request_from_http(BY_RPC["GetTask"], params, query, None)
    assert named in str(err.value)


def test_create_body_must_be_the_request_json() -> None:
    with pytest.raises(InvalidArgument, match="body"):
        request_from_http(BY_RPC["CreateTask"], {}, [], b"")
    with pytest.raises(InvalidArgument, match="body"):
        request_from_http(BY_RPC["CreateTask"], {}, [], b'{"templat": {}}')
    msg = request_from_http(BY_RPC["CreateTask"], {}, [], b'{"outputPrefix": "/o"}')
    assert msg == agent_pb2.CreateTaskRequest(output_prefix="/o")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"null", "must be a CreateTaskRequest JSON object, not NoneType"),
        (b"1", "must be a CreateTaskRequest JSON object, not int"),
        (b'"x"', "must be a CreateTaskRequest JSON object, not str"),
        (b"[]", "must be a CreateTaskRequest JSON object, not list"),
        (b"{nope", "is not JSON"),
        (b"\xff{}", "is not UTF-8 JSON"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_named_as_such(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        request_from_http(BY_RPC["CreateTask"], {}, [], body)
    assert (err.value.field, problem in err.value.message) == ("body", True)


def test_an_empty_path_field_is_invalid_before_anything_is_sent() -> None:
    request = agent_pb2.GetTaskRequest(
        task_category=agent_pb2.TaskCategory(name="mmcloud_task"), resource_meta=b""
    )
    with pytest.raises(InvalidArgument) as err:
        http_from_request(BY_RPC["GetTask"], request)
    assert err.value.field == "resource_meta"
    older = agent_pb2.GetTaskRequest(task_type="mmcloud_task", resource_meta=b"m")
    path, _, _ = http_from_request(BY_RPC["GetTask"], older)
    assert path.startswith("/api/v1/agent/task/mmcloud_task/0/")


def test_http_from_request_inverts_request_from_http() -> None:
    route = BY_RPC["GetTaskMetrics"]
    original = agent_pb2.GetTaskMetricsRequest(
        task_type="mmcloud_task",
        resource_meta=META,
        task_category=agent_pb2.TaskCategory(name="mmcloud_task", version=0),
        queries=["a", "b"],
    )
    original.step.FromSeconds(15)
    original.start_time.FromSeconds(1_700_000_000)
    path, query, body = http_from_request(route, original)
    assert body is None
    prefix = "/api/v1/agent/task/metrics/mmcloud_task/0/"
    assert path.startswith(prefix)
    params = {
        "task_category__name": "mmcloud_task",
        "task_category__version": "0",
        "resource_meta": path[len(prefix) :],
    }
    assert request_from_http(route, params, query, None) == original


def test_status_mapping_round_trips_for_the_codes_the_gateway_must_tell_apart() -> None:
    for code in (
        Code.NOT_FOUND,
        Code.UNAVAILABLE,
        Code.UNIMPLEMENTED,
        Code.UNAUTHENTICATED,
        Code.PERMISSION_DENIED,
        Code.RESOURCE_EXHAUSTED,
        Code.DEADLINE_EXCEEDED,
    ):
        assert code_for_http_status(HTTP_STATUS_BY_CODE[code]) == code
    assert HTTP_STATUS_BY_CODE[Code.FAILED_PRECONDITION] == 400
    assert code_for_http_status(404) != Code.UNIMPLEMENTED
