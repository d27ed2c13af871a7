"""Login and session tokens, with OpCenter's sliding timeout.

A token lives ``ttl`` seconds after its last successful use. The store is touched from the event
loop and, through the test hook, possibly from other threads, so it holds a lock.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable

from emulator.errors import bad_credentials, session_timeout

TOKEN_SCHEME = "Bearer"
_BASIC_PREFIX = "basic "


def check_basic_auth(header: str | None, username: str, password: str) -> None:
    """Raise the bad-credentials error unless ``header`` is HTTP Basic for these credentials."""
    if header is None or not header.lower().startswith(_BASIC_PREFIX):
        raise bad_credentials()
    try:
        decoded = base64.b64decode(header[len(_BASIC_PREFIX) :].strip(), validate=True)
        given_user, sep, given_password = decoded.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise bad_credentials() from exc
    # Compare both parts, always, in constant time: no hint which one was wrong.
    user_ok = secrets.compare_digest(given_user.encode(), username.encode())
    password_ok = secrets.compare_digest(given_password.encode(), password.encode())
    if not (sep and user_ok and password_ok):
        raise bad_credentials()


class TokenStore:
    """Issued session tokens and when each one lapses."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new token, in the exact form the client must send back in ``Authorization``."""
        token = f"{TOKEN_SCHEME} {secrets.token_hex(24)}"
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            self._expiry[token] = now + self._ttl
        return token

    def renew(self, token: str | None) -> None:
        """Accept a live token and push its expiry out; raise session-timeout otherwise."""
        if not token:
            raise session_timeout("missing session token, please log in")
        now = self._clock()
        with self._lock:
            expiry = self._expiry.get(token)
            if expiry is None or expiry <= now:
                self._expiry.pop(token, None)
                raise session_timeout()
            self._expiry[token] = now + self._ttl

    def expire_all(self) -> int:
        """Forget every token (test hook); returns how many were live."""
        with self._lock:
            count = len(self._expiry)
            self._expiry.clear()
        return count

    def _drop_expired(self, now: float) -> None:
        for token in [t for t, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[token]
