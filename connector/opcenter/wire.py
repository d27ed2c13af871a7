"""The one place that knows OpCenter's REST paths, field names and error codes.

MemVerge documents the ``float`` CLI, not the REST API. What is here comes from public clients
and ``float show`` output (see ``DESIGN.md`` section 3); names marked *inferred* are our best
reading. The client and the local emulator both import this module, so a correction made here
reaches both sides at once.
"""

from __future__ import annotations

import re
from typing import Final

API_PREFIX: Final = "/api/v1"
LOGIN_PATH: Final = f"{API_PREFIX}/login"
JOBS_PATH: Final = f"{API_PREFIX}/jobs"
JOB_PAGES_PATH: Final = f"{API_PREFIX}/jobPages"


def job_path(job_id: str) -> str:
    """Path of one job; the id must already be validated with :func:`is_job_id`."""
    return f"{JOBS_PATH}/{job_id}"


# The next three are *inferred*: the CLI has ``float log -j ID cat NAME`` and shows usage, but the
# REST paths and the web console's URL are not documented. Each can be overridden by a setting
# (``MMC_LOG_PATH``, ``MMC_METRICS_PATH``, ``MMC_CONSOLE_URL``; see ``connector.config``).

#: A job's log file, as text.
LOG_PATH_TEMPLATE: Final = f"{JOBS_PATH}/{{job_id}}/log/{{name}}"
#: A job's resource-usage samples, as ``{"samples": [{"time", "cpuPercent", "memBytes"}]}``.
METRICS_PATH_TEMPLATE: Final = f"{JOBS_PATH}/{{job_id}}/metrics"
#: The job's page in the OpCenter web console (``{address}`` is OpCenter's base URL).
CONSOLE_URL_TEMPLATE: Final = "{address}/#/jobs/{job_id}"


def job_log_path(job_id: str, name: str, template: str = LOG_PATH_TEMPLATE) -> str:
    return template.format(job_id=job_id, name=name)


def job_metrics_path(job_id: str, template: str = METRICS_PATH_TEMPLATE) -> str:
    return template.format(job_id=job_id)


class Sample:
    """Field names of one resource-usage sample (*inferred*)."""

    LIST_KEY: Final = "samples"
    TIME: Final = "time"  # seconds since the epoch
    CPU_PERCENT: Final = "cpuPercent"  # 100 = one core busy
    MEM_BYTES: Final = "memBytes"  # resident memory of the job's processes


#: The login response carries the session token in this response header; later calls send it back.
TOKEN_HEADER: Final = "Authorization"

# Job ids are 21 alphanumeric characters. They end up in URL paths, so nothing else is accepted.
JOB_ID_RE: Final = re.compile(r"^[A-Za-z0-9]{21}$")


def is_job_id(value: str) -> bool:
    return bool(JOB_ID_RE.fullmatch(value))


class Submit:
    """Field names of the ``POST /api/v1/jobs`` body."""

    IMAGE: Final = "image"
    CPU: Final = "cpu"  # "min" or "min:max" (cores); *inferred* from the CLI's --cpu syntax
    MEM: Final = "mem"  # "min" or "min:max" (GB); *inferred* from the CLI's --mem syntax
    JOB_CONTENT: Final = "jobContent"  # the job script's text
    ENVS: Final = "envs"  # ["K=V", ...]
    CUSTOM_TAGS: Final = "customTags"  # {"k": "v"}
    DATA_VOLUMES: Final = "dataVolumes"  # CLI-syntax strings
    INST_TYPE: Final = "instType"
    IMAGE_VOL_SIZE: Final = "imageVolSize"
    # The rest are *inferred* from the CLI flag names.
    ROOT_VOL_SIZE: Final = "rootVolSize"
    NAME: Final = "name"
    VM_POLICY: Final = "vmPolicy"
    MIGRATE_POLICY: Final = "migratePolicy"
    GPU_COUNT: Final = "gpuCount"
    TIME_LIMIT: Final = "timeLimit"
    SECURITY_GROUP: Final = "securityGroup"
    HOST_INIT: Final = "hostInit"
    DIR_MAP: Final = "dirMap"
    ALLOW_LIST: Final = "allowList"
    EXTRA_CONTAINER_OPTS: Final = "extraContainerOpts"
    WITH_ROOT: Final = "withRoot"
    DISABLE_RERUN: Final = "disableRerun"


class Job:
    """Field names of a job record (``GET /api/v1/jobs/{id}``)."""

    ID: Final = "id"
    NAME: Final = "name"
    STATUS: Final = "status"
    RC: Final = "rc"  # a string, absent until the job is done
    CUSTOM_TAGS: Final = "customTags"
    SUBMIT_TIME: Final = "submitTime"
    EXEC_TIME: Final = "execTime"
    END_TIME: Final = "endTime"
    DURATION: Final = "duration"
    COST: Final = "cost"  # e.g. "0.0017 USD"
    CORE_HOURS: Final = "coreHours"
    CPU: Final = "cpu"
    MEM_GB: Final = "memGB"
    INSTANCE_TYPE: Final = "instanceType"
    WORKING_HOST: Final = "workingHost"
    STDOUT: Final = "stdout"
    STDERR: Final = "stderr"
    VM_POLICY: Final = "vmPolicy"
    IMAGE: Final = "image"


#: ``GET /api/v1/jobPages`` wraps the job list in this key.
JOB_PAGES_KEY: Final = "Jobs"

#: Names of the job's log files on OpCenter.
STDOUT_LOG: Final = "stdout.autosave"
STDERR_LOG: Final = "stderr.autosave"

#: Environment variable OpCenter sets inside a job.
JOB_ID_ENV: Final = "FLOAT_JOB_ID"


class ErrorBody:
    """Field names of OpCenter's error envelope (*inferred*)."""

    STATUS_CODE: Final = "statusCode"
    ERROR_CODE: Final = "errorCode"
    MESSAGE: Final = "message"


class ErrorCode:
    """OpCenter error codes, as the CLI prints them (``Error: <msg> (code: N)``)."""

    INVALID_ARGUMENT: Final = 1003
    SESSION_TIMEOUT: Final = 2001
    BAD_CREDENTIALS: Final = 2003
    JOB_NOT_FOUND: Final = 1004  # *inferred*
