"""Invoke ``handler.app.lambda_handler`` with the committed events, in a process of its own.

Run by the deploy tests as Lambda would run the function: ``python3.12 -I -S lambda_probe.py``
with ``--path`` naming what Lambda puts on ``sys.path`` (the artifact, then the runtime's SDK), so
nothing of the test environment can be imported. Standard library only. It writes what it saw to
``--out`` as JSON; stdout and stderr carry the function's own logs and metrics.

Steps: ListAgents, GetAgent, GetTask of the events' placeholder job (not found); with
``--create-body``, CreateTask then GetTask until the phase is terminal, then DeleteTask.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

PLACEHOLDER_META = base64.urlsafe_b64encode(b'{"job_id": "REPLACEWITHAREALJOBID"}').decode()
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED", "RETRYABLE_FAILED"}


class Context:
    """The parts of a Lambda context the handler reads."""

    def __init__(self, number: int) -> None:
        self.aws_request_id = f"probe-request-{number}"
        self.function_name = "mmcloud-connector"


def load_event(events: Path, name: str, meta: str | None = None, body: str | None = None) -> Any:
    event = json.loads((events / f"{name}.json").read_text())
    if meta is not None:
        path = event["rawPath"].replace(PLACEHOLDER_META, meta)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    if body is not None:
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
    return event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", action="append", default=[], help="prepend to sys.path")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--create-body", type=Path)
    parser.add_argument("--correlation-id", default="")
    args = parser.parse_args()
    sys.path[:0] = args.path

    started = time.perf_counter()
    import handler.app

    import_seconds = time.perf_counter() - started
    calls: list[dict[str, Any]] = []

    def invoke(event: Any) -> dict[str, Any]:
        if args.correlation_id:
            event["headers"]["x-correlation-id"] = args.correlation_id
        response = handler.app.lambda_handler(event, Context(len(calls)))
        call = {
            "path": event["rawPath"],
            "status": response["statusCode"],
            "headers": response.get("headers", {}),
            "body": response["body"],
        }
        calls.append(call)
        return call

    invoke(load_event(args.events, "list_agents"))
    invoke(load_event(args.events, "get_agent"))
    invoke(load_event(args.events, "get_task"))
    phases: list[str] = []
    if args.create_body:
        created = invoke(load_event(args.events, "create_task", body=args.create_body.read_text()))
        if created["status"] == 200:
            raw = base64.b64decode(json.loads(created["body"])["resourceMeta"])
            meta = base64.urlsafe_b64encode(raw).decode()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                polled = invoke(load_event(args.events, "get_task", meta=meta))
                phase = json.loads(polled["body"]).get("resource", {}).get("phase", "?")
                if not phases or phases[-1] != phase:
                    phases.append(phase)
                if polled["status"] != 200 or phase in TERMINAL:
                    break
                time.sleep(0.2)
            invoke(load_event(args.events, "delete_task", meta=meta))

    modules = {
        name: getattr(module, "__file__", None)
        for name, module in sys.modules.items()
        if "." not in name and module is not None
    }
    app_module = sys.modules["handler.app"]
    args.out.write_text(
        json.dumps(
            {
                "python": list(sys.version_info[:3]),
                "import_seconds": import_seconds,
                "calls": calls,
                "phases": phases,
                "modules": modules,
                "handler_app_file": app_module.__file__,
                "handler_app_cached": app_module.__spec__.cached if app_module.__spec__ else None,
                "dont_write_bytecode": sys.dont_write_bytecode,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
