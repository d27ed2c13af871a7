"""Map a Flyte task's ``requests``/``limits`` to MMCloud's ``[min_cpu, min_mem_gib, max_cpu,
max_mem_gib]``, with the upstream plugin's semantics, so a task declares the same job either way.

The rules (the upstream plugin's, kept exactly so tasks move between the two unchanged):

- quantities are Kubernetes quantities (``"500m"``, ``"1.5"``, ``"2Gi"``, ``"1e9"``, ``1024``);
- MMCloud runs nothing under 1 core or 1 GiB, so every given value is raised to that floor;
- cores round up to whole cores; memory rounds up to whole bytes, then to whole GiB;
- a limit without a request makes the request equal the limit; neither gives 1 core / 1 GiB;
- a request above its limit is an error (memory compared in bytes, before GiB rounding);
- limits not given stay ``None`` (no maximum).

No flytekit here: anything with ``cpu`` and ``mem`` attributes will do (flytekit's ``Resources``).
The upstream plugin parses quantities with the ``kubernetes`` package; we do not depend on it.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from typing import Any, NamedTuple, Protocol

GIB = 1024**3

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -3, "u": -2, "m": -1, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


class HasCpuMem(Protocol):
    """What is read of flytekit's ``Resources``."""

    cpu: Any
    mem: Any


class MMCloudResources(NamedTuple):
    """What travels as ``custom["resources"]``: whole cores and whole GiB, maxima optional."""

    min_cpu: int
    min_mem_gib: int
    max_cpu: int | None
    max_mem_gib: int | None

    def as_custom(self) -> list[str | None]:
        """The serialised form: numbers as strings, a missing maximum as null (upstream's)."""
        return [str(value) if value else None for value in self]


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """A Kubernetes quantity as a number: ``"250m"`` -> 0.25, ``"1Gi"`` -> 1073741824."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int | float | Decimal):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity (a string or a number)")
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        raise ValueError(
            f"{value!r} is not a Kubernetes quantity such as '2', '500m', '1.5', '4Gi' or '1e9'"
        )
    number = Decimal(match.group("number"))
    suffix = match.group("suffix")
    if suffix in _BINARY:
        return number * (1024 ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number * (Decimal(1000) ** _DECIMAL[suffix])
    return number


def flyte_to_mmcloud_resources(
    requests: HasCpuMem | None = None, limits: HasCpuMem | None = None
) -> MMCloudResources:
    """``[min_cpu, min_mem_gib, max_cpu, max_mem_gib]`` for the task's requests and limits.

    Raises ``ValueError`` naming the field when a value is not a quantity or a request exceeds
    its limit.
    """
    max_cpu = _cores(limits, "limits")
    min_cpu = _cores(requests, "requests") or max_cpu or 1
    max_mem = _bytes(limits, "limits")
    min_mem = _bytes(requests, "requests") or max_mem or GIB
    if max_cpu is not None and min_cpu > max_cpu:
        raise ValueError(
            f"cpu request ({min_cpu} cores) cannot be greater than cpu limit ({max_cpu})"
        )
    if max_mem is not None and min_mem > max_mem:
        raise ValueError(
            f"mem request ({_gib_text(min_mem)}) cannot be greater than mem limit "
            f"({_gib_text(max_mem)})"
        )
    return MMCloudResources(
        min_cpu,
        _ceil_div(min_mem, GIB),
        max_cpu,
        None if max_mem is None else _ceil_div(max_mem, GIB),
    )


def _cores(resources: HasCpuMem | None, which: str) -> int | None:
    quantity = _given(resources, "cpu", which)
    if quantity is None:
        return None
    return _ceil(max(Decimal(1), quantity))


def _bytes(resources: HasCpuMem | None, which: str) -> int | None:
    quantity = _given(resources, "mem", which)
    if quantity is None:
        return None
    return _ceil(max(Decimal(GIB), quantity))


def _given(resources: HasCpuMem | None, name: str, which: str) -> Decimal | None:
    """The parsed value, or None when absent (None, "", 0: upstream treats falsy as not given)."""
    value = getattr(resources, name, None) if resources is not None else None
    if not value:
        return None
    if isinstance(value, list | tuple):
        raise ValueError(
            f"{which}.{name}={value!r}: a (request, limit) pair belongs in resources=, "
            f"not in {which}="
        )
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise ValueError(f"{which}.{name}: {exc}") from None


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _ceil_div(value: int, unit: int) -> int:
    return -(-value // unit)


def _gib_text(value: int) -> str:
    return f"{Decimal(value) / GIB:.3f}".rstrip("0").rstrip(".") + " GiB"
