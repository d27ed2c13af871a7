"""Errors the connector raises, each carrying the gRPC status code it should surface as.

The HTTP layer turns these into ``google.rpc.Status`` bodies; the gRPC gateway turns them back into
gRPC codes. Messages must never contain credentials or session tokens.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """gRPC status codes (``google.rpc.Code``), kept here so the Lambda path needs no grpcio."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ConnectorError(Exception):
    """An error with a gRPC code and a message a person can act on."""

    code: Code = Code.INTERNAL

    def __init__(self, message: str, *, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidArgument(ConnectorError):
    """The request is malformed; ``field`` names the offending part."""

    code = Code.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(ConnectorError):
    code = Code.NOT_FOUND


class ConfigurationError(ConnectorError):
    """The deployment is misconfigured (missing secret, bad setting)."""

    code = Code.FAILED_PRECONDITION


class OpCenterError(ConnectorError):
    """OpCenter refused a call or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_code: int | None = None,
        code: Code = Code.UNAVAILABLE,
    ) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status
        self.error_code = error_code


class OpCenterAuthError(OpCenterError):
    """OpCenter rejected the credentials or the session token."""
