"""Say why a job failed, from the end of its stderr, in a message fit for the Flyte console.

The message travels in ``Resource.message`` to FlytePropeller, into the workflow CRD and the
console, so it is short: the last exception line we can find (flytekit logs it JSON-escaped),
then the last few stderr lines, each clipped.
"""

from __future__ import annotations

import re

TAIL_LINES = 5
LINE_CHARS = 240
EXCEPTION_CHARS = 500

# "ValueError: ..." up to the end of the line or of a JSON string ("...\n" or '"').
_EXCEPTION = re.compile(
    r"\b([A-Z]\w*(?:Error|Exception|Exit|Interrupt|Failure)): (.+?)(?=\\n|\"|\n|$)"
)


def last_exception(stderr: str) -> str | None:
    """The last ``SomeError: message`` in the text, or None."""
    matches = list(_EXCEPTION.finditer(stderr))
    if not matches:
        return None
    name, text = matches[-1].groups()
    return f"{name}: {text.strip()}"[:EXCEPTION_CHARS]


def tail(stderr: str) -> list[str]:
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    return [clip_line(line) for line in lines[-TAIL_LINES:]]


def failure_details(stderr: str) -> str:
    """``"ValueError: ...\\nlast lines of stderr:\\n..."``, or "" when stderr is empty."""
    lines = tail(stderr)
    if not lines:
        return ""
    parts = []
    exception = last_exception(stderr)
    if exception:
        parts.append(exception)
    parts.append("last lines of stderr:")
    parts.extend(f"  {line}" for line in lines)
    return "\n".join(parts)


def clip_line(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 3] + "..."
