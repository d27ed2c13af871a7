"""Start and stop the local stack: OpCenter emulator, moto (Secrets Manager), the connector app
and the gRPC gateway in front of it.

Everything listens on free loopback ports::

    with local_stack() as stack:
        print(stack.app_url)          # the connector's AsyncAgentService HTTP routes
        print(stack.gateway_address)  # the gRPC gateway in front of them, as propeller calls it

The emulator, the app and the gateway run as subprocesses (as they would in real life: separate
programs), moto runs in a thread of this process. The OpCenter password is random per stack and
never printed: it only reaches the emulator's environment and the credentials secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import boto3
import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from demo.constants import (
    AWS_REGION,
    CREDENTIALS_SECRET_ENV,
    CREDENTIALS_SECRET_NAME,
    EMULATOR_PASSWORD_ENV,
    EMULATOR_READY_LINE,
    EMULATOR_STEP_DELAY,
    FAKE_AWS_ACCESS_KEY_ID,
    FAKE_AWS_SECRET_ACCESS_KEY,
    OPCENTER_USERNAME,
    SECRETS_MANAGER_ENDPOINT_ENV,
    TOKEN_SECRET_ENV,
    TOKEN_SECRET_NAME,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Variables that would make the app bypass the secrets (or the stack reach real AWS).
_SCRUBBED_PREFIXES = ("MMC_", "AWS_")


class StackError(RuntimeError):
    """A part of the local stack did not start (the message includes the tail of its log)."""


@dataclass
class LocalStack:
    """Addresses and places of a running local stack."""

    app_url: str
    emulator_url: str
    moto_url: str
    work_dir: Path
    username: str = OPCENTER_USERNAME
    password: str = field(default="", repr=False)
    #: The environment the app was started with (holds no password).
    app_env: dict[str, str] = field(default_factory=dict, repr=False)
    #: ``host:port`` of the gRPC gateway (``python -m handler.gateway``) in front of the app.
    gateway_address: str = ""
    #: Its Prometheus endpoint.
    gateway_metrics_url: str = ""

    @property
    def emulator_data_dir(self) -> Path:
        return self.work_dir / "opcenter"

    @property
    def blob_dir(self) -> Path:
        """The demo's "blob store": one directory per execution."""
        return self.work_dir / "blobs"

    @property
    def log_dir(self) -> Path:
        return self.work_dir / "logs"

    def secrets_client(self) -> Any:
        """A boto3 Secrets Manager client on the stack's moto server."""
        return secrets_manager_client(self.moto_url)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def secrets_manager_client(endpoint_url: str) -> Any:
    return boto3.client(
        "secretsmanager",
        region_name=AWS_REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_AWS_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_AWS_SECRET_ACCESS_KEY,
    )


def seed_secrets(endpoint_url: str, *, address: str, username: str, password: str) -> None:
    """Create the credentials secret and an empty shared-token secret."""
    client = secrets_manager_client(endpoint_url)
    client.create_secret(
        Name=CREDENTIALS_SECRET_NAME,
        SecretString=json.dumps({"address": address, "username": username, "password": password}),
    )
    client.create_secret(Name=TOKEN_SECRET_NAME, SecretString=json.dumps({"token": ""}))


def app_environment(moto_url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The app's environment: ``base`` without MMC_*/AWS_* variables, plus the stack's."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            CREDENTIALS_SECRET_ENV: CREDENTIALS_SECRET_NAME,
            TOKEN_SECRET_ENV: TOKEN_SECRET_NAME,
            SECRETS_MANAGER_ENDPOINT_ENV: moto_url,
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_ACCESS_KEY_ID": FAKE_AWS_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_AWS_SECRET_ACCESS_KEY,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _log_tail(path: Path, redact: str, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    if redact:
        text = text.replace(redact, "<password>")
    tail = text.splitlines()[-lines:]
    return "\n".join(f"    | {line}" for line in tail) or "    | (empty log)"


def _wait_until(
    name: str,
    probe: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    timeout: float,
    redact: str,
) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(
                f"{name} exited with code {process.returncode} before it was ready; "
                f"its log ({log}):\n{_log_tail(log, redact)}"
            )
        try:
            if probe():
                return
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.1)
    raise StackError(
        f"{name} was not ready after {timeout:.0f}s ({last_error or 'no answer yet'}); "
        f"its log ({log}):\n{_log_tail(log, redact)}"
    )


def _stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process we started, SIGKILL its process group if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: start_new_session=True
        process.wait(timeout=grace)


def _spawn(args: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
        )


def start_emulator(
    stack: contextlib.ExitStack,
    *,
    data_dir: Path,
    log: Path,
    password: str,
    step_delay: float,
    timeout: float,
) -> str:
    """Run ``python -m emulator`` on a free port; return its URL once a login succeeds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable, "-m", "emulator",
        "--host", "127.0.0.1", "--port", str(port),
        "--username", OPCENTER_USERNAME,
        "--data-dir", str(data_dir), "--step-delay", str(step_delay),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    # The password goes by environment, not argv: argv is visible to every user in `ps`. The
    # emulator does not pass its MMC_EMULATOR_* settings on to the jobs it runs.
    env[EMULATOR_PASSWORD_ENV] = password
    env["PYTHONUNBUFFERED"] = "1"
    process = _spawn(args, log, env)
    stack.callback(_stop, process)

    def logged_in() -> bool:
        if EMULATOR_READY_LINE not in log.read_text(errors="replace"):
            return False
        response = httpx.get(f"{url}/api/v1/login", auth=(OPCENTER_USERNAME, password), timeout=2.0)
        return response.status_code == 200

    _wait_until("OpCenter emulator", logged_in, process, log, timeout=timeout, redact=password)
    return url


def start_moto(stack: contextlib.ExitStack) -> str:
    """moto's server in a thread; return its URL."""
    from moto.server import ThreadedMotoServer

    # moto serves with werkzeug, which logs every request to stderr; the demo's output is ours.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def start_app(
    stack: contextlib.ExitStack, *, env: Mapping[str, str], log: Path, timeout: float
) -> str:
    """Run the connector app with uvicorn on a free port; return its URL once it answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable, "-m", "uvicorn", "handler.app:app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    process = _spawn(args, log, env)
    stack.callback(_stop, process)

    def agents_listed() -> bool:
        return httpx.get(f"{url}/api/v1/agents", timeout=2.0).status_code == 200

    _wait_until("connector app", agents_listed, process, log, timeout=timeout, redact="")
    return url


def start_gateway(
    stack: contextlib.ExitStack, *, target_url: str, log: Path, timeout: float
) -> tuple[str, str]:
    """Run the gRPC gateway, unsigned, in front of ``target_url``; return its address and
    metrics URL once its health service says SERVING."""
    port, metrics_port = free_port(), free_port()
    address = f"127.0.0.1:{port}"
    args = [
        sys.executable, "-m", "handler.gateway",
        "--target-url", target_url, "--unsigned",
        "--host", "127.0.0.1", "--port", str(port),
        "--metrics-port", str(metrics_port), "--shutdown-grace", "2",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    process = _spawn(args, log, env)
    stack.callback(_stop, process)
    channel = stack.enter_context(grpc.insecure_channel(address))
    health = health_pb2_grpc.HealthStub(channel)

    def serving() -> bool:
        try:
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    _wait_until("gRPC gateway", serving, process, log, timeout=timeout, redact="")
    return address, f"http://127.0.0.1:{metrics_port}/metrics"


@contextlib.contextmanager
def local_stack(
    work_dir: Path | None = None,
    *,
    step_delay: float = EMULATOR_STEP_DELAY,
    startup_timeout: float = 30.0,
    keep: bool = False,
    status: TextIO | None = None,
) -> Iterator[LocalStack]:
    """Start emulator, moto, the app and the gateway; yield their addresses; stop them on exit.

    ``work_dir`` holds the emulator's data, the logs and the demo's blob store; by default a
    temporary directory, removed on exit unless ``keep``. ``status`` gets a line per started part.
    """
    own_dir = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="mmcloud-demo-")) if work_dir is None else Path(work_dir)
    root.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)

    def say(text: str) -> None:
        if status is not None:
            status.write(text + "\n")
            status.flush()

    try:
        with contextlib.ExitStack() as stack:
            logs = root / "logs"
            emulator_url = start_emulator(
                stack,
                data_dir=root / "opcenter",
                log=logs / "emulator.log",
                password=password,
                step_delay=step_delay,
                timeout=startup_timeout,
            )
            say(
                f"  OpCenter emulator   {emulator_url}  (user {OPCENTER_USERNAME}, password hidden)"
            )
            moto_url = start_moto(stack)
            seed_secrets(
                moto_url, address=emulator_url, username=OPCENTER_USERNAME, password=password
            )
            say(
                f"  Secrets Manager     {moto_url}  (moto; secrets {CREDENTIALS_SECRET_NAME}, "
                f"{TOKEN_SECRET_NAME})"
            )
            env = app_environment(moto_url)
            app_url = start_app(stack, env=env, log=logs / "app.log", timeout=startup_timeout)
            say(f"  connector app       {app_url}")
            gateway_address, metrics_url = start_gateway(
                stack, target_url=app_url, log=logs / "gateway.log", timeout=startup_timeout
            )
            say(f"  gRPC gateway        {gateway_address}  (metrics {metrics_url})")
            (root / "blobs").mkdir(exist_ok=True)
            yield LocalStack(
                app_url=app_url,
                emulator_url=emulator_url,
                moto_url=moto_url,
                work_dir=root,
                password=password,
                app_env=env,
                gateway_address=gateway_address,
                gateway_metrics_url=metrics_url,
            )
    finally:
        if own_dir and not keep:
            shutil.rmtree(root, ignore_errors=True)
