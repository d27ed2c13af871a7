"""Where the OpCenter session token lives between calls and between instances.

A fleet of cold Lambdas must not log in once each: the token is cached in memory and shared
through a Secrets Manager secret. ``save`` receives the token it replaces so a herd-safe
(compare-and-swap) store can slot in without changing callers.
"""

from __future__ import annotations

from typing import Protocol

from connector.secrets import JsonSecret


class TokenStore(Protocol):
    async def load(self, address: str) -> str | None:
        """The token for the OpCenter at ``address``, or None if there is none to try."""

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        """Record a fresh token that supersedes ``replaces``."""


class MemoryTokenStore:
    """One process's token; enough for a single long-running server or a test."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    async def load(self, address: str) -> str | None:
        return self._tokens.get(address)

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        self._tokens[address] = token


class SecretTokenStore:
    """The token in a secret ``{"address": ..., "token": ...}``, with an in-memory copy in front.

    The address is stored with the token so that a token for another OpCenter is never sent.
    """

    def __init__(self, secret: JsonSecret) -> None:
        self._secret = secret
        self._memory = MemoryTokenStore()

    async def load(self, address: str) -> str | None:
        token = await self._memory.load(address)
        if token is not None:
            return token
        value = await self._secret.read()
        token = value.get("token") or None
        if token is None or value.get("address") != address:
            return None
        await self._memory.save(address, str(token), None)
        return str(token)

    async def save(self, address: str, token: str, replaces: str | None) -> None:
        await self._memory.save(address, token, replaces)
        await self._secret.write({"address": address, "token": token})
