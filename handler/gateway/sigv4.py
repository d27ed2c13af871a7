"""SigV4 signing of the forwarded HTTP requests, as the pod's own AWS identity.

Propeller sends no credentials (DESIGN section 2); the Function URL (``AuthType: AWS_IAM``) or
the IAM-authorised HTTP API only admits signed requests. The gateway signs each one with the
credentials of the default botocore chain (IRSA web identity, instance profile, environment...),
which botocore refreshes before they expire.

The signature covers method, path, query, the ``host`` and ``content-type`` headers and a SHA-256
of the body, so the exact bytes signed must be the exact bytes sent: :mod:`.forward` builds the
URL and body once and hands the same values to the signer and to httpx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

#: Which SigV4 service a host belongs to, and in which region, read from AWS's endpoint names:
#: ``<id>.lambda-url.<region>.on.aws`` and ``<id>.execute-api.<region>.amazonaws.com``.
_AWS_HOST = re.compile(r"\.(lambda-url|execute-api)\.([a-z]{2}(?:-[a-z]+)+-\d+)\.")
_SERVICE_FOR_HOST_KIND = {"lambda-url": "lambda", "execute-api": "execute-api"}


class SigningConfigError(ValueError):
    """The service or region to sign for cannot be determined; the message says what to set."""


def service_for(url: str, explicit: str = "") -> str:
    """``explicit`` if given, else the service the target's host name implies."""
    if explicit:
        return explicit
    match = _AWS_HOST.search(urlsplit(url).hostname or "")
    if match is None:
        raise SigningConfigError(
            f"cannot tell the SigV4 service from {url!r}: pass --sigv4-service lambda "
            "(Function URL) or execute-api (API Gateway), or --unsigned"
        )
    return _SERVICE_FOR_HOST_KIND[match.group(1)]


def region_for(url: str, explicit: str = "", default: str | None = None) -> str:
    """``explicit``, else the region in the target's host name, else ``default``."""
    if explicit:
        return explicit
    match = _AWS_HOST.search(urlsplit(url).hostname or "")
    if match is not None:
        return match.group(2)
    if default:
        return default
    raise SigningConfigError(
        f"cannot tell the SigV4 region from {url!r} and no AWS default region is set: "
        "pass --sigv4-region or set AWS_REGION"
    )


class CredentialsUnavailable(Exception):
    """The pod's AWS credentials could not be had (IRSA token unreadable, STS unreachable or
    refusing...): a problem of the gateway's identity, not of the connector API."""

    def __init__(self, cause: Exception) -> None:
        # Only the class (and an STS error code) is named: botocore's messages may quote what
        # it read, and this one travels to the caller.
        what = type(cause).__name__
        if isinstance(cause, ClientError):
            what += " " + str(cause.response.get("Error", {}).get("Code", ""))
        super().__init__(
            f"cannot get AWS credentials to sign with ({what.strip()}); check the pod's "
            "IAM role (the service account's IRSA annotation, or the instance profile) and its "
            "access to STS"
        )


class SigV4Signer:
    """Adds ``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``) to one request."""

    def __init__(self, credentials: Any, *, service: str, region: str) -> None:
        self._credentials = credentials
        self.service = service
        self.region = region

    @classmethod
    def from_default_chain(
        cls, url: str, *, service: str = "", region: str = "", session: Any = None
    ) -> SigV4Signer:
        """The signer a pod would use: botocore's credential chain and default region."""
        session = session or botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise SigningConfigError(
                "no AWS credentials found (IRSA, instance profile, AWS_* variables, ~/.aws); "
                "give the pod an IAM role, or run with --unsigned against a local app"
            )
        return cls(
            credentials,
            service=service_for(url, service),
            region=region_for(url, region, session.get_config_variable("region")),
        )

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """The headers to send: ``headers`` plus the signature headers.

        May block briefly when botocore refreshes expiring credentials (an STS call), so async
        callers run it in a thread. Raises :class:`CredentialsUnavailable` if that fails.
        """
        try:
            frozen = (
                self._credentials.get_frozen_credentials()
                if hasattr(self._credentials, "get_frozen_credentials")
                else self._credentials
            )
        except Exception as exc:  # BotoCoreError, an STS ClientError, an unreadable token file
            raise CredentialsUnavailable(exc) from None
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(frozen, self.service, self.region).add_auth(request)
        return dict(request.headers.items())
