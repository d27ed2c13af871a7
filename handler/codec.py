"""How flyteidl messages travel over HTTP: grpc-gateway's conventions, in one place.

Bodies are proto3 JSON; ``resource_meta`` in a path is URL-safe base64 (a ``/`` would break
routing under Mangum); other fields of GET/DELETE are query parameters; errors are
``google.rpc.Status`` JSON with the HTTP status grpc-gateway gives each gRPC code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from connector.errors import Code, InvalidArgument
from handler.routes import Route, param_name

HTTP_STATUS_BY_CODE: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}

# The reverse, for the gateway: several codes share 400/409/500, so name the usual one.
CODE_BY_HTTP_STATUS: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    409: Code.ABORTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


def code_for_http_status(status: int) -> Code:
    if 200 <= status < 300:
        return Code.OK
    return CODE_BY_HTTP_STATUS.get(status, Code.UNKNOWN)


def status_body(code: Code, message: str) -> dict[str, Any]:
    """A ``google.rpc.Status`` as proto3 JSON."""
    return {"code": int(code), "message": message, "details": []}


# -- server streaming over HTTP -----------------------------------------------------------------

#: Server-streaming responses: one JSON object a line, ``{"result": msg}`` or ``{"error": Status}``.
NDJSON = "application/x-ndjson"


def stream_results(messages: Iterable[Message]) -> list[dict[str, Any]]:
    return [{"result": to_json(m)} for m in messages]


def stream_error(code: Code, message: str) -> dict[str, Any]:
    return {"error": status_body(code, message)}


def stream_lines(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(item, separators=(",", ":")).encode() + b"\n" for item in items)


def parse_stream(body: bytes) -> list[dict[str, Any]]:
    """The inverse, for clients: the decoded lines of a streaming response."""
    return [json.loads(line) for line in body.splitlines() if line.strip()]


# -- resource_meta in paths ---------------------------------------------------------------------


def encode_path_bytes(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def decode_path_bytes(field: str, text: str) -> bytes:
    """URL-safe base64, padded or not; the standard alphabet's ``+`` is tolerated too."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(field, "is not URL-safe base64") from None


# -- messages <-> HTTP --------------------------------------------------------------------------


def to_json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def request_from_http(
    route: Route,
    path_params: Mapping[str, str],
    query: Iterable[tuple[str, str]],
    body: bytes | None,
) -> Message:
    """Build the request message the way grpc-gateway does; errors name the offending field."""
    message = route.request()
    if route.has_body:
        if not body:
            raise InvalidArgument(
                "body", f"a {route.request.DESCRIPTOR.name} JSON body is required"
            )
        name = route.request.DESCRIPTOR.name
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            raise InvalidArgument("body", "is not UTF-8 JSON") from None
        except json.JSONDecodeError as exc:
            raise InvalidArgument("body", f"is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidArgument(
                "body", f"must be a {name} JSON object, not {type(data).__name__}"
            )
        try:
            json_format.ParseDict(data, message)
        except json_format.ParseError as exc:
            raise InvalidArgument("body", str(exc)) from None
    fields: dict[str, Any] = {}
    for field_path in route.path_fields:
        raw = path_params[param_name(field_path)]
        _put(
            fields, message.DESCRIPTOR, field_path, _path_value(message.DESCRIPTOR, field_path, raw)
        )
    for key, value in query:
        if key in route.path_fields:
            raise InvalidArgument(key, "is part of the path; do not repeat it as a query parameter")
        _put(fields, message.DESCRIPTOR, key, value)
    if fields:
        try:
            json_format.ParseDict(fields, message)
        except json_format.ParseError:
            _name_the_bad_field(route, fields)
            raise
    return message


def _name_the_bad_field(route: Route, fields: dict[str, Any], prefix: str = "") -> None:
    """Parse each leaf on its own to say which one is wrong (ParseDict reports the outermost)."""
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            _name_the_bad_field(route, value, path + ".")
            continue
        leaf: dict[str, Any] = {}
        target = leaf
        for part in path.split(".")[:-1]:
            target = target.setdefault(part, {})
        target[path.split(".")[-1]] = value
        try:
            json_format.ParseDict(leaf, route.request())
        except json_format.ParseError:
            expected = _expected(_field(route.request.DESCRIPTOR, path))
            raise InvalidArgument(path, f"{value!r} is not {expected}") from None


def _expected(field: FieldDescriptor) -> str:
    if field.enum_type is not None:
        return "one of " + ", ".join(v.name for v in field.enum_type.values)
    if field.message_type is not None:
        return {
            "google.protobuf.Timestamp": "an RFC 3339 timestamp such as 2024-01-01T00:00:00Z",
            "google.protobuf.Duration": "a duration such as 10s",
        }.get(field.message_type.full_name, f"a {field.message_type.name}")
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64):
        return "a whole number"
    if field.cpp_type in (FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64):
        return "a non-negative whole number"
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return "true or false"
    return "valid here"


def http_from_request(route: Route, message: Message) -> tuple[str, list[tuple[str, str]], Any]:
    """The inverse, for the gateway: (path, query, JSON body or None)."""
    path = route.path
    consumed = set()
    for field_path in route.path_fields:
        value = _get(message, field_path)
        if field_path == "task_category.name" and not value:
            value = getattr(message, "task_type", "")  # its deprecated spelling, still sent
        if isinstance(value, str | bytes) and not value:
            raise InvalidArgument(field_path, "is empty; it is part of the request's path")
        text = encode_path_bytes(value) if isinstance(value, bytes) else str(value)
        path = path.replace("{" + field_path + "}", _quote(text))
        consumed.add(field_path.split(".")[0])
    if route.has_body:
        return path, [], to_json(message)
    query: list[tuple[str, str]] = []
    for name, value in to_json(message).items():
        field = message.DESCRIPTOR.fields_by_camelcase_name.get(name)
        if field is None or field.name in consumed:
            continue
        values = value if isinstance(value, list) else [value]
        query.extend((field.name, v if isinstance(v, str) else _scalar(v)) for v in values)
    return path, query, None


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="=")  # padding is legal in a path segment


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(message: Message, field_path: str) -> Any:
    value: Any = message
    for part in field_path.split("."):
        value = getattr(value, part)
    return value


def _field(descriptor: Any, field_path: str) -> FieldDescriptor:
    parts = field_path.split(".")
    desc: Any = descriptor
    field: FieldDescriptor | None = None
    for i, part in enumerate(parts):
        field = desc.fields_by_name.get(part) or desc.fields_by_camelcase_name.get(part)
        if field is None:
            raise InvalidArgument(field_path, f"{desc.name} has no such field")
        if i < len(parts) - 1:
            if field.message_type is None:
                raise InvalidArgument(field_path, f"{part} is not a message")
            desc = field.message_type
    assert field is not None
    return field


def _path_value(descriptor: Any, field_path: str, raw: str) -> Any:
    field = _field(descriptor, field_path)
    if field.type == FieldDescriptor.TYPE_BYTES:
        # ParseDict wants standard base64; the path carries URL-safe base64.
        return base64.b64encode(decode_path_bytes(field_path, raw)).decode("ascii")
    return raw


def _put(fields: dict[str, Any], descriptor: Any, field_path: str, value: Any) -> None:
    field = _field(descriptor, field_path)
    parts = field_path.split(".")
    target = fields
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    if field.is_repeated:
        target.setdefault(parts[-1], []).append(value)
    elif parts[-1] in target:
        raise InvalidArgument(field_path, "is given more than once")
    else:
        target[parts[-1]] = value
