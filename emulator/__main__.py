"""``python -m emulator`` / ``mmcloud-emulator``: run the OpCenter emulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from emulator.background import base_url, bind_socket, uvicorn_server
from emulator.server import create_app
from emulator.settings import (
    DEFAULT_HOST,
    DEFAULT_PASSWORD,
    DEFAULT_PORT,
    DEFAULT_STEP_DELAY,
    DEFAULT_TOKEN_TTL,
    DEFAULT_USERNAME,
    ENV_DATA_DIR,
    ENV_HOST,
    ENV_PASSWORD,
    ENV_PORT,
    ENV_STEP_DELAY,
    ENV_TOKEN_TTL,
    ENV_USERNAME,
    EmulatorSettings,
)

log = logging.getLogger("emulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="mmcloud-emulator",
        description="A local MemVerge OpCenter emulator: OpCenter's REST API on this machine, "
        "running each job's script as a local process (the container image is ignored).",
    )
    parser.add_argument(
        "--host",
        default=env.get(ENV_HOST, DEFAULT_HOST),
        help=f"address to listen on (env {ENV_HOST}; default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=env.get(ENV_PORT, str(DEFAULT_PORT)),
        help=f"port, 0 for any free one (env {ENV_PORT}; default %(default)s)",
    )
    parser.add_argument(
        "--username",
        default=env.get(ENV_USERNAME, DEFAULT_USERNAME),
        help=f"login user name (env {ENV_USERNAME}; default %(default)s)",
    )
    parser.add_argument(
        "--password",
        default=env.get(ENV_PASSWORD, DEFAULT_PASSWORD),
        help=f"login password; prefer env {ENV_PASSWORD} (default {DEFAULT_PASSWORD!r})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=env.get(ENV_DATA_DIR),
        help=f"where job scripts and logs go (env {ENV_DATA_DIR}); default: a "
        "temp dir, deleted at exit",
    )
    parser.add_argument(
        "--token-ttl",
        type=float,
        default=env.get(ENV_TOKEN_TTL, str(DEFAULT_TOKEN_TTL)),
        help=f"sliding session timeout, seconds (env {ENV_TOKEN_TTL}; default %(default)s)",
    )
    parser.add_argument(
        "--step-delay",
        type=float,
        default=env.get(ENV_STEP_DELAY, str(DEFAULT_STEP_DELAY)),
        help="seconds between Submitted/Initializing/Starting/Executing "
        f"(env {ENV_STEP_DELAY}; default %(default)s)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument("--access-log", action="store_true", help="log every HTTP request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    made_data_dir = args.data_dir is None
    data_dir: Path = (
        Path(tempfile.mkdtemp(prefix="mmc-emulator-")) if made_data_dir else args.data_dir
    )
    try:
        return _serve(args, data_dir.resolve())
    finally:
        if made_data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        sock = bind_socket(args.host, args.port)
        settings = EmulatorSettings(
            username=args.username,
            password=args.password,
            host=args.host,
            port=sock.getsockname()[1],
            data_dir=data_dir,
            token_ttl=args.token_ttl,
            step_delay=args.step_delay,
        )
    except (OSError, ValueError) as exc:
        print(f"mmcloud-emulator: {exc}", file=sys.stderr)
        return 2
    server = uvicorn_server(create_app(settings), access_log=args.access_log)

    def stop(signum: int, _: FrameType | None) -> None:
        # While serving, uvicorn has its own handlers and, once it has shut down, re-raises the
        # signal to this one: by then there is nothing left to do, so exit normally.
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)

    async def run() -> bool:
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started:
            url = base_url(settings.host, settings.port)
            print(f"OpCenter emulator listening on {url} (data dir: {data_dir})", flush=True)
        await serving
        return server.started

    try:
        started = asyncio.run(run())
    finally:
        sock.close()
    log.info("OpCenter emulator stopped")
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main())
