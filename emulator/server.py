"""The FastAPI app: OpCenter's REST routes (paths from ``connector.opcenter.wire``) plus hooks."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from connector.opcenter.wire import (
    JOB_PAGES_KEY,
    JOB_PAGES_PATH,
    JOBS_PATH,
    LOGIN_PATH,
    STDERR_LOG,
    STDOUT_LOG,
    TOKEN_HEADER,
    ErrorCode,
    Sample,
    job_log_path,
    job_metrics_path,
    job_path,
)
from emulator.auth import TokenStore, check_basic_auth
from emulator.errors import ApiError, install_error_handlers
from emulator.hooks import hook_routes, read_json
from emulator.jobs import JobRegistry
from emulator.settings import EmulatorSettings
from emulator.submit import parse_submit

LOGIN_MESSAGE = "login succeeded"
#: ``/api/v1/jobs/{job_id}``, built by the same function the client uses for its URLs.
JOB_ROUTE = job_path("{job_id}")
LOG_ROUTE = job_log_path("{job_id}", "{name}")
METRICS_ROUTE = job_metrics_path("{job_id}")
LOG_NAMES = (STDOUT_LOG, STDERR_LOG)


def create_app(settings: EmulatorSettings) -> FastAPI:
    """An emulator app. Without ``settings.data_dir`` it makes a temp dir (not removed)."""
    data_dir = settings.data_dir or Path(tempfile.mkdtemp(prefix="mmc-emulator-"))
    tokens = TokenStore(settings.token_ttl)
    jobs = JobRegistry(settings, data_dir)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await jobs.shutdown()

    app = FastAPI(
        title="MemVerge OpCenter emulator",
        lifespan=lifespan,
        openapi_url=None,
        redirect_slashes=False,  # OpCenter answers, it does not redirect
    )
    app.state.settings = settings
    app.state.data_dir = data_dir
    app.state.jobs = jobs
    app.state.tokens = tokens
    install_error_handlers(app)

    async def require_session(request: Request) -> None:
        """Every OpCenter call but login needs a live token; using it renews it."""
        tokens.renew(request.headers.get(TOKEN_HEADER))

    session = [Depends(require_session)]

    @app.get(LOGIN_PATH)
    async def login(request: Request, response: Response) -> dict[str, Any]:
        check_basic_auth(request.headers.get("Authorization"), settings.username, settings.password)
        response.headers[TOKEN_HEADER] = tokens.issue()
        return {"message": LOGIN_MESSAGE}

    @app.post(JOBS_PATH, dependencies=session)
    async def submit_job(request: Request) -> dict[str, Any]:
        return jobs.submit(parse_submit(await read_json(request)))

    @app.get(JOB_ROUTE, dependencies=session)
    async def show_job(job_id: str) -> dict[str, Any]:
        return jobs.record(job_id)

    @app.delete(JOB_ROUTE, dependencies=session)
    async def cancel_job(job_id: str) -> dict[str, Any]:
        return jobs.cancel(job_id)

    @app.get(LOG_ROUTE, dependencies=session)
    async def job_log(job_id: str, name: str) -> PlainTextResponse:
        job = jobs.get(job_id)
        if name not in LOG_NAMES:
            raise ApiError(404, ErrorCode.INVALID_ARGUMENT, f"job {job_id} has no log {name!r}")
        path = job.stdout_path if name == STDOUT_LOG else job.stderr_path
        text = path.read_text(errors="replace") if path.exists() else ""
        return PlainTextResponse(text)

    @app.get(METRICS_ROUTE, dependencies=session)
    async def job_metrics(job_id: str) -> dict[str, Any]:
        """The real CPU and memory samples taken of the job's process tree while it ran."""
        samples = list(jobs.get(job_id).samples)
        return {
            Sample.LIST_KEY: [
                {
                    Sample.TIME: s.timestamp,
                    Sample.CPU_PERCENT: s.cpu_percent,
                    Sample.MEM_BYTES: s.rss_bytes,
                }
                for s in samples
            ]
        }

    @app.get(JOB_PAGES_PATH, dependencies=session)
    async def list_jobs() -> dict[str, Any]:
        return {JOB_PAGES_KEY: jobs.records()}

    app.include_router(hook_routes(jobs, tokens))
    return app
