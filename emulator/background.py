"""Serving the emulator: binding its socket, and running it in a background thread for tests.

The socket is bound before uvicorn starts, so port 0 can pick a free port and the caller learns
the real one without racing anybody for it.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from emulator.hooks import EXPIRE_TOKENS_PATH, FORCE_STATUS_PATH, STATUS_FIELD
from emulator.jobs import JobRegistry
from emulator.server import create_app
from emulator.settings import DEFAULT_PASSWORD, DEFAULT_USERNAME, EmulatorSettings

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for ``host:port`` (port 0: any free port); uvicorn makes it listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: FastAPI, *, access_log: bool = False) -> uvicorn.Server:
    """A uvicorn server that leaves logging setup to the caller."""
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


class EmulatorServer:
    """An emulator on loopback in a background thread; use it as a context manager.

    ``with EmulatorServer(password="pw") as emu: httpx.get(emu.url + "/api/v1/login", ...)``.
    Leaving the block stops the server and kills every job's process group; a data dir the
    server made itself (``data_dir=None``) is deleted then.
    """

    def __init__(
        self,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        step_delay: float = 0.05,
        token_ttl: float = 1800.0,
        *,
        kill_grace: float = 2.0,
        sample_interval: float = 0.5,
    ) -> None:
        self._options: dict[str, Any] = {
            "username": username,
            "password": password,
            "host": host,
            "step_delay": step_delay,
            "token_ttl": token_ttl,
            "kill_grace": kill_grace,
            "sample_interval": sample_interval,
        }
        self._port = port
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.settings: EmulatorSettings | None = None
        self.app: FastAPI | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        data_dir = self._data_dir
        if data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="mmc-emulator-")
            data_dir = Path(self._tempdir.name)
        sock = bind_socket(self._options["host"], self._port)
        self.settings = EmulatorSettings(
            port=sock.getsockname()[1], data_dir=data_dir, **self._options
        )
        self.app = create_app(self.settings)
        server = self._server = uvicorn_server(self.app)
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name="mmc-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the OpCenter emulator did not start") from self._error
            time.sleep(0.01)
        return self

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start(); a thread cannot raise to anyone
            self._error = exc
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving, kill job processes, remove a temp data dir. Safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
        if self.app is not None:
            # Normally done by the app's shutdown already; this covers a server that died.
            self.jobs.kill_all_now()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what tests need ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        if self.settings is None:
            raise RuntimeError("emulator not started")
        return base_url(self.settings.host, self.settings.port)

    @property
    def data_dir(self) -> Path:
        if self.settings is None or self.settings.data_dir is None:
            raise RuntimeError("emulator not started")
        return self.settings.data_dir

    @property
    def jobs(self) -> JobRegistry:
        """The live job registry (read ``jobs.get(id).pid`` / ``.samples`` in tests)."""
        if self.app is None:
            raise RuntimeError("emulator not started")
        registry: JobRegistry = self.app.state.jobs
        return registry

    def force_status(self, job_id: str, status: str) -> dict[str, Any]:
        """Test hook: set the job's status to any string."""
        path = FORCE_STATUS_PATH.format(job_id=job_id)
        response = httpx.post(self.url + path, json={STATUS_FIELD: status})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def expire_tokens(self) -> int:
        """Test hook: end every session; returns how many there were."""
        response = httpx.post(self.url + EXPIRE_TOKENS_PATH)
        response.raise_for_status()
        return int(response.json()["expired"])
