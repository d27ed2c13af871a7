"""Wire the connector together from settings: one place that builds the object graph."""

from __future__ import annotations

from connector.config import Settings
from connector.credentials import Credentials, CredentialsSource, credentials_source
from connector.errors import ConfigurationError
from connector.opcenter.client import OpCenterClient
from connector.operations import Operations
from connector.secrets import JsonSecret
from connector.tokens import MemoryTokenStore, SecretTokenStore, TokenStore


class _DeferredCredentials:
    """Reports a configuration problem when a request needs credentials, not at import."""

    def __init__(self, error: ConfigurationError) -> None:
        self._error = error

    async def get(self) -> Credentials:
        raise self._error


def build_operations(
    settings: Settings | None = None, *, fallback_credentials: CredentialsSource | None = None
) -> Operations:
    """``fallback_credentials`` (the flytekit adapter's Flyte secrets) is used only when the
    settings name no credentials: explicit connector configuration always wins."""
    settings = settings or Settings.from_env()
    try:
        creds: CredentialsSource = credentials_source(settings)
    except ConfigurationError as exc:
        creds = fallback_credentials or _DeferredCredentials(exc)
    tokens: TokenStore = (
        SecretTokenStore(JsonSecret(settings.token_secret))
        if settings.token_secret
        else MemoryTokenStore()
    )
    client = OpCenterClient(
        creds,
        tokens,
        verify=settings.verify,
        timeout=settings.timeout,
        log_path=settings.log_path,
        metrics_path=settings.metrics_path,
    )
    return Operations(client, console_url=settings.console_url)
