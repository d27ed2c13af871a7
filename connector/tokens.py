"""Where the OpCenter session token lives between calls and between instances.

A fleet of cold Lambdas must not log in once each: the token is cached in memory and shared
through a Secrets Manager secret. Sharing is an optimisation, never a reason to fail a request:
when the secret cannot be read or written, the instance logs in on its own and says so in the log.
``save`` receives the token it replaces so a herd-safe (compare-and-swap) store can slot in
without changing callers.
"""

from __future__ import annotations

import logging
from typing import Protocol

from connector.errors import ConnectorError
from connector.secrets import JsonSecret

log = logging.getLogger(__name__)


class TokenStore(Protocol):
    async def load(self, address: str, *, newer_than: str | None = None) -> str | None:
        """The token for the OpCenter at ``address``, or None if there is none to try.

        ``newer_than`` is a token OpCenter just refused: never return it, so that a store shared
        with other instances looks for one they have renewed since.
        """

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        """Record a fresh token that supersedes ``replaces``."""


class MemoryTokenStore:
    """One process's token; enough for a single long-running server or a test."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    async def load(self, address: str, *, newer_than: str | None = None) -> str | None:
        token = self._tokens.get(address)
        return None if token == newer_than else token

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        self._tokens[address] = token


class SecretTokenStore:
    """The token in a secret ``{"address": ..., "token": ...}``, with an in-memory copy in front.

    The secret is read when memory has no usable token: at a cold start, and when OpCenter
    refused the token in memory (another instance may have renewed it already). The address is
    stored with the token so that a token for another OpCenter is never sent.
    """

    def __init__(self, secret: JsonSecret) -> None:
        self._secret = secret
        self._memory = MemoryTokenStore()

    async def load(self, address: str, *, newer_than: str | None = None) -> str | None:
        token = await self._memory.load(address, newer_than=newer_than)
        if token is not None:
            return token
        try:
            value = await self._secret.read()
        except ConnectorError as exc:
            log.warning("cannot read the shared OpCenter token (%s); logging in", exc.message)
            return None
        shared = value.get("token") or None
        if shared is None or value.get("address") != address or shared == newer_than:
            return None
        await self._memory.save(address, str(shared), None)
        return str(shared)

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        await self._memory.save(address, token, replaces)
        try:
            await self._secret.write({"address": address, "token": token})
        except ConnectorError as exc:
            log.warning(
                "cannot share the new OpCenter token (%s); other instances log in themselves",
                exc.message,
            )
