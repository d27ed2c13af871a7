"""OpCenter credentials: where they come from, and a type that never prints the password."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from connector.config import Settings
from connector.errors import ConfigurationError
from connector.secrets import JsonSecret


@dataclass(frozen=True)
class Credentials:
    address: str
    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.address.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"OpCenter address {self.address!r} must start with http:// or https://"
            )

    @property
    def base_url(self) -> str:
        return self.address.rstrip("/")


class CredentialsSource(Protocol):
    async def get(self) -> Credentials: ...


class StaticCredentials:
    """Credentials known up front (environment variables, Flyte secrets, tests)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def get(self) -> Credentials:
        return self._credentials


#: The Flyte secrets the upstream plugin logs in with (``current_context().secrets.get(name)``).
FLYTE_SECRET_NAMES = ("mmc_address", "mmc_username", "mmc_password")


class LookupCredentials:
    """Credentials looked up by name on every use, e.g. the Flyte secrets ``mmc_address``,
    ``mmc_username`` and ``mmc_password`` of a ``pyflyte serve connector`` pod.

    ``lookup`` returns None for a name it does not have. It is called on each use, not once,
    because mounted secret files can be rotated under a long-running server and the lookup is
    cheap (an environment variable or a small file).
    """

    def __init__(
        self,
        lookup: Callable[[str], str | None],
        names: tuple[str, str, str] = FLYTE_SECRET_NAMES,
        *,
        alternatives: str = "",
    ) -> None:
        self._lookup = lookup
        self._names = names
        self._alternatives = alternatives

    async def get(self) -> Credentials:
        values = [self._lookup(name) for name in self._names]
        missing = [name for name, value in zip(self._names, values, strict=True) if not value]
        if missing:
            raise ConfigurationError(
                f"no OpCenter credentials: the secrets {', '.join(missing)} are not set"
                + (f"; {self._alternatives}" if self._alternatives else "")
            )
        address, username, password = (str(value) for value in values)
        return Credentials(address, username, password)


class SecretCredentials:
    """Credentials in one Secrets Manager secret: ``{"address", "username", "password"}``.

    Read once per process; rotating the secret takes effect on the next cold start, or at once
    if OpCenter rejects the old password (see :meth:`forget`).
    """

    def __init__(self, secret: JsonSecret) -> None:
        self._secret = secret
        self._cached: Credentials | None = None

    async def get(self) -> Credentials:
        if self._cached is None:
            value = await self._secret.read()
            missing = [k for k in ("address", "username", "password") if not value.get(k)]
            if missing:
                raise ConfigurationError(
                    f"secret {self._secret.secret_id!r} lacks {', '.join(missing)}"
                )
            self._cached = Credentials(
                address=str(value["address"]),
                username=str(value["username"]),
                password=str(value["password"]),
            )
        return self._cached

    def forget(self) -> None:
        self._cached = None


def credentials_source(settings: Settings) -> CredentialsSource:
    if settings.credentials_secret:
        return SecretCredentials(JsonSecret(settings.credentials_secret))
    if settings.address and settings.username and settings.password:
        return StaticCredentials(
            Credentials(settings.address, settings.username, settings.password)
        )
    raise ConfigurationError(
        "no OpCenter credentials: set MMC_CREDENTIALS_SECRET to a Secrets Manager secret, "
        "or MMC_ADDRESS, MMC_USERNAME and MMC_PASSWORD"
    )
