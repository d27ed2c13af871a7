"""Regenerate the API Gateway HTTP API (v2) events in this folder with ``sam local generate-event``.

SAM's generator gives the envelope; we set the method, path, query and body of each flyteidl route
and drop its placeholder query string, headers and cookies. Run: ``make events`` (needs ``sam``,
or ``uv`` to run the SAM CLI pinned in ``infra/sam.py``, and the project's .venv for flytekit).
``sam local invoke -e infra/events/<name>.json`` uses them.

The CreateTask body is a real request: ``examples.workflows.word_stats`` serialised by flytekit and
rendered as propeller renders it, its blobs under ``/tmp/mmcloud-events``. It is written to
``create_task_body.json`` so a reader sees the request without decoding the event.
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
    "create_task": ("POST", "/api/v1/agent/task", {}, None),  # body: create_task_body()
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


CREATE_BODY = HERE / "create_task_body.json"
#: Where the example execution's inputs and outputs live, on the machine that runs the job.
EVENT_BLOB_DIR = Path("/tmp/mmcloud-events")
#: Environment the demo adds for *this* checkout (its venv and path); not for a committed file.
MACHINE_SPECIFIC_ENV = {"PATH", "PYTHONPATH"}


def create_task_body() -> str:
    """A propeller-style CreateTaskRequest for ``word_stats``, as proto3 JSON."""
    sys.path.insert(0, str(HERE.parent.parent))
    from google.protobuf import json_format

    from demo.propeller import prepare_execution
    from examples.workflows import word_stats

    prepared = prepare_execution(
        word_stats,
        {"text": "The quick brown fox jumps over the lazy dog"},
        EVENT_BLOB_DIR,
        execution_name="eventexample00000000",
    )
    request = prepared.create_request()
    kept = [e for e in request.template.container.env if e.key not in MACHINE_SPECIFIC_ENV]
    del request.template.container.env[:]
    request.template.container.env.extend(kept)
    return json_format.MessageToJson(request, indent=2, sort_keys=True) + "\n"  # stable diffs


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
    CREATE_BODY.write_text(create_task_body())
    print(f"wrote {CREATE_BODY.relative_to(HERE.parent.parent)}")
    for event_name, (method, path, query, body) in EVENTS.items():
        if event_name == "create_task":
            body = CREATE_BODY.read_text()
        generate(event_name, method, path, query, body)
        print(f"wrote infra/events/{event_name}.json")
