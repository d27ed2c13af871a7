"""``MMCloudMetadata``: what travels in ``resource_meta`` between calls.

The bytes are exactly what the upstream ``flytekitplugins.mmcloud`` plugin produces
(``json.dumps(asdict(meta)).encode()``), so jobs it created stay pollable here and ours there.
Unknown keys are ignored on decode (upstream raises on them), so a later version may add fields.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from connector.errors import InvalidArgument
from connector.opcenter.wire import is_job_id

FIELD = "resource_meta"


@dataclass(frozen=True)
class MMCloudMetadata:
    job_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.job_id, str) or not is_job_id(self.job_id):
            raise InvalidArgument(
                f"{FIELD}.job_id",
                f"{self.job_id!r} is not an OpCenter job id (21 letters or digits)",
            )

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> MMCloudMetadata:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidArgument(FIELD, "is not the JSON the MMCloud connector encodes") from None
        if not isinstance(obj, dict) or "job_id" not in obj:
            raise InvalidArgument(FIELD, "has no job_id")
        return cls(job_id=obj["job_id"])
