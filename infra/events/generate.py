"""Regenerate the API Gateway HTTP API (v2) events in this folder with ``sam local generate-event``.

SAM's generator gives the envelope; we set the method, path, query and body of each flyteidl route
and drop its placeholder query string, headers and cookies. Run: ``make events`` (needs ``sam``,
or ``uv`` to run the SAM CLI pinned in ``infra/sam.py``). ``sam local invoke -e
infra/events/<name>.json`` uses them.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).parent
# An upstream-encoded resource_meta, URL-safe base64: b'{"job_id": "REPLACEWITHAREALJOBID"}'.
META = base64.urlsafe_b64encode(b'{"job_id": "REPLACEWITHAREALJOBID"}').decode()
TASK = f"mmcloud_task/0/{META}"

EVENTS = {
    "list_agents": ("GET", "/api/v1/agents", {}, None),
    "get_agent": ("GET", "/api/v1/agent/MMCloud%20Connector", {}, None),
    "create_task": ("POST", "/api/v1/agent/task", {}, (HERE / "create_task_body.json").read_text()),
    "get_task": ("GET", f"/api/v1/agent/task/{TASK}", {"task_type": "mmcloud_task"}, None),
    "delete_task": ("DELETE", f"/api/v1/agent/task_executions/{TASK}", {}, None),
    "get_task_logs": ("GET", f"/api/v1/agent/task/logs/{TASK}", {"lines": "100"}, None),
    "get_task_metrics": (
        "GET",
        f"/api/v1/agent/task/metrics/{TASK}",
        {"queries": "EXECUTION_METRIC_USED_CPU_AVG", "step": "10s"},
        None,
    ),
}


def sam() -> list[str]:
    if shutil.which("sam"):
        return ["sam"]
    sys.path.insert(0, str(HERE.parent))
    from sam import sam_command  # infra/sam.py: the pinned SAM CLI

    return sam_command()


def generate(name: str, method: str, path: str, query: dict[str, str], body: str | None) -> None:
    out = subprocess.run(
        [*sam(), "local", "generate-event", "apigateway", "http-api-proxy",
         "--method", method, "--path", path.lstrip("/"), "--body", body or ""],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    event = json.loads(out)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = urlencode(query)
    event["headers"] = {"accept": "application/json", "host": "localhost"}
    if body is not None:
        event["headers"]["content-type"] = "application/json"
        event["body"] = base64.b64encode(body.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    for key in ("cookies", "pathParameters", "stageVariables"):
        event.pop(key, None)
    if query:
        event["queryStringParameters"] = query
    else:
        event.pop("queryStringParameters", None)
    (HERE / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    for event_name, spec in EVENTS.items():
        generate(event_name, *spec)
        print(f"wrote infra/events/{event_name}.json")
