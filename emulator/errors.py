"""OpCenter's error envelope, and the handlers that make every failure use it.

Clients parse ``{"statusCode", "errorCode", "message"}`` to decide what to do (re-login on 2001,
give up on 1003), so no error may leave the emulator in another shape, a traceback least of all.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.opcenter.wire import ErrorBody, ErrorCode

log = logging.getLogger(__name__)

#: OpCenter has no known code for its own crashes; the emulator uses this one if it ever crashes.
INTERNAL_ERROR_CODE = 0


class ApiError(Exception):
    """An OpCenter-style error: HTTP status, OpCenter error code and a message for humans."""

    def __init__(self, status_code: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, ErrorCode.INVALID_ARGUMENT, message)


def session_timeout(message: str = "session timeout, please log in again") -> ApiError:
    return ApiError(401, ErrorCode.SESSION_TIMEOUT, message)


def bad_credentials() -> ApiError:
    return ApiError(401, ErrorCode.BAD_CREDENTIALS, "invalid username or password")


def job_not_found(job_id: str) -> ApiError:
    return ApiError(404, ErrorCode.JOB_NOT_FOUND, f"job {job_id!r} not found")


def error_response(error: ApiError) -> JSONResponse:
    body = {
        ErrorBody.STATUS_CODE: error.status_code,
        ErrorBody.ERROR_CODE: error.error_code,
        ErrorBody.MESSAGE: error.message,
    }
    return JSONResponse(body, status_code=error.status_code)


def install_error_handlers(app: FastAPI) -> None:
    """Route FastAPI's own errors (bad path, wrong method, crashes) into the envelope too."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        # Unknown route or method: not a job lookup, so report it as a bad argument.
        return error_response(ApiError(exc.status_code, ErrorCode.INVALID_ARGUMENT, message))

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else "request"
        return error_response(invalid_argument(f"invalid {where}"))

    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error answering a request: %r", exc)  # uvicorn logs the traceback
        return error_response(ApiError(500, INTERNAL_ERROR_CODE, "internal emulator error"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_crash)
