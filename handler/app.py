"""The HTTP API: flyteidl's agent routes on FastAPI, and ``lambda_handler`` for AWS Lambda.

Everything is built at module scope so a warm Lambda reuses it; nothing here contacts AWS or
OpCenter until a request needs it, and flytekit is never imported (cold start).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from flyteidl.admin import agent_pb2
from google.protobuf.message import Message
from mangum import Mangum
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.errors import Code, ConnectorError
from connector.service import build_operations
from handler import agents, observability
from handler.codec import (
    HTTP_STATUS_BY_CODE,
    NDJSON,
    request_from_http,
    status_body,
    stream_error,
    stream_lines,
    stream_results,
    to_json,
)
from handler.routes import ROUTES, Route

log = logging.getLogger("handler")
if not logging.getLogger().handlers:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

operations = build_operations()

Handler = Callable[[Any], Awaitable[Message | list[Message]]]


async def _create(req: agent_pb2.CreateTaskRequest) -> Message:
    agents.check_category(agent_pb2.TaskCategory(name=req.template.type))
    return await operations.create(req)


async def _get(req: agent_pb2.GetTaskRequest) -> Message:
    agents.check_category(req.task_category, req.task_type)
    return await operations.get(req)


async def _delete(req: agent_pb2.DeleteTaskRequest) -> Message:
    agents.check_category(req.task_category, req.task_type)
    return await operations.delete(req)


async def _logs(req: agent_pb2.GetTaskLogsRequest) -> list[Message]:
    agents.check_category(req.task_category, req.task_type)
    return list(await operations.get_logs(req))


async def _metrics(req: agent_pb2.GetTaskMetricsRequest) -> Message:
    agents.check_category(req.task_category, req.task_type)
    return await operations.get_metrics(req)


async def _list_agents(req: agent_pb2.ListAgentsRequest) -> Message:
    return agents.list_agents(req)


async def _get_agent(req: agent_pb2.GetAgentRequest) -> Message:
    return agents.get_agent(req)


HANDLERS: dict[str, Handler] = {
    "CreateTask": _create,
    "GetTask": _get,
    "DeleteTask": _delete,
    "GetTaskLogs": _logs,
    "GetTaskMetrics": _metrics,
    "ListAgents": _list_agents,
    "GetAgent": _get_agent,
}


def error_response(code: Code, message: str) -> JSONResponse:
    return JSONResponse(status_body(code, message), status_code=HTTP_STATUS_BY_CODE[code])


def _endpoint(route: Route) -> Callable[[Request], Awaitable[Response]]:
    handler = HANDLERS[route.rpc]  # every flyteidl route is served

    async def endpoint(request: Request) -> Response:
        body = await request.body() if route.has_body else None
        message = request_from_http(
            route, request.path_params, request.query_params.multi_items(), body
        )
        if not route.streaming:
            return JSONResponse(to_json(await handler(message)))  # type: ignore[arg-type]
        try:
            results = await handler(message)
        except ConnectorError as exc:
            # grpc-gateway's shape for a stream that fails before its first message.
            log.warning("%s: %s", exc.code.name, exc.message)
            return Response(
                stream_lines([stream_error(exc.code, exc.message)]),
                status_code=HTTP_STATUS_BY_CODE[exc.code],
                media_type=NDJSON,
            )
        assert isinstance(results, list)
        return Response(stream_lines(stream_results(results)), media_type=NDJSON)

    endpoint.__name__ = route.rpc
    return endpoint


app = FastAPI(
    title="MMCloud connector for Flyte",
    description="flyteidl AsyncAgentService over HTTP, running MMCloud jobs",
    version="0.1.0",
)
for _route in ROUTES:
    app.add_api_route(
        _route.fastapi_path, _endpoint(_route), methods=[_route.method], name=_route.rpc
    )
app.add_middleware(observability.ObservabilityMiddleware)  # JSON logs and metrics, in Lambda


@app.exception_handler(ConnectorError)
async def _connector_error(_: Request, exc: ConnectorError) -> JSONResponse:
    log.log(
        logging.WARNING if exc.code != Code.INTERNAL else logging.ERROR,
        "%s: %s",
        exc.code.name,
        exc.message,
    )
    return error_response(exc.code, exc.message)


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error_response(Code.NOT_FOUND, f"no route for {request.method} {request.url.path}")
    if exc.status_code == 405:
        return error_response(Code.UNIMPLEMENTED, f"{request.method} is not served on this path")
    return JSONResponse(status_body(Code.UNKNOWN, str(exc.detail)), status_code=exc.status_code)


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ())) or "request"
    return error_response(Code.INVALID_ARGUMENT, f"{field}: {first.get('msg', 'invalid')}")


@app.exception_handler(Exception)
async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error")  # the traceback goes to the log, never to the caller
    return error_response(Code.INTERNAL, f"internal error ({type(exc).__name__})")


lambda_handler = observability.instrument_handler(Mangum(app, lifespan="off"))
