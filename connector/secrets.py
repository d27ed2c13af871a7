"""JSON secrets in AWS Secrets Manager, read and written off the event loop."""

from __future__ import annotations

import asyncio
import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from connector.errors import Code, ConfigurationError, ConnectorError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class JsonSecret:
    """One secret whose value is a JSON object.

    The boto3 client is built on first use, not at import, so a Lambda cold start pays for it only
    when a request needs it; ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` points it at moto in tests.
    """

    def __init__(self, secret_id: str, client: SecretsManagerClient | None = None) -> None:
        self.secret_id = secret_id
        if client is not None:
            self.__dict__["_client"] = client

    @cached_property
    def _client(self) -> SecretsManagerClient:
        import boto3

        return boto3.client("secretsmanager")

    async def read(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._read)

    async def write(self, value: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, value)

    def _read(self) -> dict[str, Any]:
        try:
            # Always name the stage: moto (and stale caches) may answer another version otherwise.
            resp = self._client.get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
        except Exception as exc:
            raise _secret_error(self.secret_id, "read", exc) from None
        raw = resp.get("SecretString")
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            raise ConfigurationError(f"secret {self.secret_id!r} does not hold JSON") from None
        if not isinstance(value, dict):
            raise ConfigurationError(f"secret {self.secret_id!r} does not hold a JSON object")
        return value

    def _write(self, value: dict[str, Any]) -> None:
        try:
            self._client.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(value))
        except Exception as exc:
            raise _secret_error(self.secret_id, "write", exc) from None


def _secret_error(secret_id: str, verb: str, exc: Exception) -> ConnectorError:
    """Name the secret and AWS's error code, never the secret's content."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    if code in {"ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"}:
        return ConfigurationError(f"cannot {verb} secret {secret_id!r}: {code}")
    return ConnectorError(f"cannot {verb} secret {secret_id!r}: {code}", code=Code.UNAVAILABLE)
