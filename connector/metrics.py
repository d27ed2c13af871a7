"""GetTaskMetrics: OpCenter's usage samples and job record as Prometheus-shaped range results.

Each ``ExecutionMetricResult.data`` is what a Prometheus range query returns
(``{"resultType": "matrix", "result": [{"metric": {...}, "values": [[t, "v"], ...]}]}``), so tools
that plot Prometheus data plot these as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flyteidl.admin import agent_pb2
from flyteidl.core.metrics_pb2 import ExecutionMetricResult
from google.protobuf.struct_pb2 import Struct

from connector.errors import InvalidArgument
from connector.job_view import parse_cost
from connector.opcenter.wire import Job, Sample

MAX_POINTS = 11_000  # Prometheus refuses range queries with more points than this

Point = tuple[float, float]


@dataclass(frozen=True)
class Query:
    description: str
    from_samples: Callable[[dict[str, Any]], float | None] | None = None
    from_job: Callable[[dict[str, Any]], tuple[float, dict[str, str]] | None] | None = None


def _cores(sample: dict[str, Any]) -> float | None:
    value = _float(sample.get(Sample.CPU_PERCENT))
    return None if value is None else value / 100.0


def _mem(sample: dict[str, Any]) -> float | None:
    return _float(sample.get(Sample.MEM_BYTES))


def _core_hours(job: dict[str, Any]) -> tuple[float, dict[str, str]] | None:
    value = _float(job.get(Job.CORE_HOURS))
    return None if value is None else (value, {})


def _cost(job: dict[str, Any]) -> tuple[float, dict[str, str]] | None:
    cost = parse_cost(job.get(Job.COST))
    if cost is None or "amount" not in cost:
        return None
    return cost["amount"], {"currency": cost["currency"]}


QUERIES: dict[str, Query] = {
    "EXECUTION_METRIC_USED_CPU_AVG": Query("CPU cores in use (average per step)", _cores),
    "EXECUTION_METRIC_USED_MEMORY_BYTES_AVG": Query(
        "resident memory bytes (average per step)", _mem
    ),
    "MMCLOUD_CORE_HOURS": Query(
        "core hours OpCenter has counted for the job", from_job=_core_hours
    ),
    "MMCLOUD_COST": Query("cost OpCenter has counted for the job", from_job=_cost),
}


def check_request(request: agent_pb2.GetTaskMetricsRequest) -> list[str]:
    """The queries to answer (all when none are named). Everything that can be wrong with the
    request itself is INVALID_ARGUMENT here, before OpCenter is asked anything."""
    names = list(request.queries) or list(QUERIES)
    for name in names:
        if name not in QUERIES:
            raise InvalidArgument("queries", f"unknown query {name!r}; known: {', '.join(QUERIES)}")
    if request.HasField("step") and request.step.ToTimedelta().total_seconds() < 0:
        raise InvalidArgument("step", "must not be negative")
    if (
        request.HasField("start_time")
        and request.HasField("end_time")
        and request.end_time.ToMicroseconds() < request.start_time.ToMicroseconds()
    ):
        raise InvalidArgument("end_time", "is before start_time")
    return names


def metrics_response(
    request: agent_pb2.GetTaskMetricsRequest,
    job_id: str,
    job: dict[str, Any],
    samples: list[dict[str, Any]],
) -> agent_pb2.GetTaskMetricsResponse:
    names = check_request(request)
    start, end = _window(request, job, samples)
    step = request.step.ToTimedelta().total_seconds() if request.HasField("step") else 0.0
    if step > 0 and (end - start) / step > MAX_POINTS:
        raise InvalidArgument("step", f"gives more than {MAX_POINTS} points for the time range")
    response = agent_pb2.GetTaskMetricsResponse()
    for name in names:
        query = QUERIES[name]
        labels = {"job_id": job_id}
        if query.from_samples is not None:
            points = _sample_points(samples, query.from_samples)
        else:
            assert query.from_job is not None
            value = query.from_job(job)
            when = _job_time(job)
            points = [] if value is None else [(when, value[0])]
            labels.update(value[1] if value else {})
        points = [(t, v) for t, v in points if start <= t <= end]
        if step > 0:
            points = _average_per_step(points, start, step)
        response.results.append(ExecutionMetricResult(metric=name, data=_matrix(labels, points)))
    return response


def _window(
    request: agent_pb2.GetTaskMetricsRequest, job: dict[str, Any], samples: list[dict[str, Any]]
) -> tuple[float, float]:
    if request.HasField("start_time"):
        start = request.start_time.ToMicroseconds() / 1e6
    else:
        times = [t for t in (_float(s.get(Sample.TIME)) for s in samples) if t is not None]
        start = min([*times, _iso(job.get(Job.EXEC_TIME)) or time.time()])
    end = request.end_time.ToMicroseconds() / 1e6 if request.HasField("end_time") else time.time()
    if end < start:
        raise InvalidArgument("end_time", "is before start_time")
    return start, end


def _sample_points(
    samples: list[dict[str, Any]], value_of: Callable[[dict[str, Any]], float | None]
) -> list[Point]:
    points = []
    for sample in samples:
        when, value = _float(sample.get(Sample.TIME)), value_of(sample)
        if when is not None and value is not None:
            points.append((when, value))
    return sorted(points)


def _average_per_step(points: list[Point], start: float, step: float) -> list[Point]:
    buckets: dict[int, list[float]] = {}
    for when, value in points:
        buckets.setdefault(int((when - start) // step), []).append(value)
    return [(start + i * step, sum(vs) / len(vs)) for i, vs in sorted(buckets.items())]


def _matrix(labels: dict[str, str], points: list[Point]) -> Struct:
    data = Struct()
    data.update(
        {
            "resultType": "matrix",
            "result": [{"metric": labels, "values": [[t, _text(v)] for t, v in points]}],
        }
    )
    return data


def _job_time(job: dict[str, Any]) -> float:
    """When the job record's totals were true: its end, or now while it runs."""
    return _iso(job.get(Job.END_TIME)) or time.time()


def _iso(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: float) -> str:
    return repr(round(value, 6))
