"""Test hooks: emulator-only routes that let tests steer what OpCenter would decide on its own.

They live under ``/_emulator/``, need no login, and are not part of OpCenter's REST surface; a
client must never call them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from emulator.auth import TokenStore
from emulator.errors import invalid_argument
from emulator.jobs import JobRegistry

HOOK_PREFIX = "/_emulator"
FORCE_STATUS_PATH = HOOK_PREFIX + "/jobs/{job_id}/status"
EXPIRE_TOKENS_PATH = HOOK_PREFIX + "/expire-tokens"
#: Body field of the force-status hook.
STATUS_FIELD = "status"


def hook_routes(jobs: JobRegistry, tokens: TokenStore) -> APIRouter:
    router = APIRouter()

    @router.post(FORCE_STATUS_PATH)
    async def force_status(job_id: str, request: Request) -> dict[str, Any]:
        """Set the job's status to any string, even one OpCenter never sends."""
        body = await read_json(request)
        status = body.get(STATUS_FIELD) if isinstance(body, dict) else None
        if not isinstance(status, str) or not status:
            raise invalid_argument(f"field {STATUS_FIELD!r} must be a non-empty string")
        return jobs.force_status(job_id, status)

    @router.post(EXPIRE_TOKENS_PATH)
    async def expire_tokens() -> dict[str, Any]:
        """End every session, as an OpCenter restart or idle timeout would."""
        return {"expired": tokens.expire_all()}

    return router


async def read_json(request: Request) -> Any:
    """The decoded body, or the invalid-argument error (never a 500) if it is not JSON."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise invalid_argument("request body is not valid JSON") from exc
    if not _encodable(body):
        # JSON allows lone surrogates ("\\ud800"); they could not be written back out.
        raise invalid_argument("request body contains invalid Unicode (a lone surrogate)")
    return body


def _encodable(value: Any) -> bool:
    """Every string in a decoded JSON value can be encoded as UTF-8 (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True
