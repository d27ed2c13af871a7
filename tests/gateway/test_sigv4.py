"""Forwarded requests carry a SigV4 signature that botocore's own signer reproduces from what
arrived on the wire: the raw path and query, the signed headers, the body and the timestamp."""

from __future__ import annotations

import re
from collections.abc import Callable

import grpc
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, CredentialRetrievalError, NoCredentialsError
from flyteidl.admin import agent_pb2
from gateway_helpers import InProcessGateway, Received, Reply, ScriptedHTTPServer, gateway_settings

from handler.gateway.sigv4 import SigningConfigError, SigV4Signer, region_for, service_for

Scripted = Callable[[Callable[[Received], Reply]], ScriptedHTTPServer]

# Fixed test credentials (AWS's documentation example key id), with a session token as IRSA has.
CREDENTIALS = Credentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-for-tests"
)
META = b'{"job_id": "abcdefghij0123456789K"}'
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def botocore_authorization(received: Received, base_url: str, *, body: bytes | None = None) -> str:
    """The Authorization header botocore computes for the request exactly as received."""
    match = AUTHORIZATION.fullmatch(received.headers["authorization"])
    assert match, received.headers["authorization"]
    signed = match["signed"].split(";")
    request = AWSRequest(
        method=received.method,
        url=base_url + received.target,  # the raw target: %-encoding as it travelled
        data=received.body if body is None else body,
        headers={name: received.headers[name] for name in signed},
    )
    request.context["timestamp"] = received.headers["x-amz-date"]
    auth = SigV4Auth(CREDENTIALS, "lambda", "eu-west-1")
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    return (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )


def test_get_and_create_are_signed_as_botocore_signs_them(scripted: Scripted) -> None:
    api = scripted(
        lambda received: (
            Reply(chunks=[b'{"resourceMeta": "e30="}'])
            if received.method == "POST"
            else Reply(chunks=[b'{"resource": {"phase": "RUNNING"}}'])
        )
    )
    signer = SigV4Signer(CREDENTIALS, service="lambda", region="eu-west-1")
    with InProcessGateway(gateway_settings(api.url, unsigned=False), signer=signer) as gateway:
        gateway.tasks.GetTask(
            agent_pb2.GetTaskRequest(
                task_category=agent_pb2.TaskCategory(name="mmcloud_task"),
                resource_meta=META,
                output_prefix="s3://bucket/a path/with spaces+plus",
            ),
            timeout=5,
        )
        gateway.tasks.CreateTask(
            agent_pb2.CreateTaskRequest(output_prefix="s3://bucket/out"), timeout=5
        )

    get, create = api.received
    for received in (get, create):
        assert received.headers["authorization"] == botocore_authorization(received, api.url)
        assert re.fullmatch(r"\d{8}T\d{6}Z", received.headers["x-amz-date"])
        assert received.headers["x-amz-security-token"] == "session-token-for-tests"
        match = AUTHORIZATION.fullmatch(received.headers["authorization"])
        assert match is not None
        assert match["scope"].endswith("/eu-west-1/lambda/aws4_request")
        assert {"host", "x-amz-date", "x-amz-security-token"} <= set(match["signed"].split(";"))

    # The path went out strictly %-encoded (base64 padding as %3D), as SigV4 canonicalises it.
    assert "=" not in get.target.split("?")[0] and "%3D" in get.target
    assert "output_prefix=s3%3A%2F%2Fbucket%2Fa%20path%2Fwith%20spaces%2Bplus" in get.target
    # The body is part of the signature: another body would not verify.
    assert create.body and b'"outputPrefix":"s3://bucket/out"' in create.body
    create_auth = AUTHORIZATION.fullmatch(create.headers["authorization"])
    assert create_auth is not None and "content-type" in create_auth["signed"].split(";")
    tampered = botocore_authorization(create, api.url, body=create.body + b" ")
    assert tampered != create.headers["authorization"]


def test_unsigned_mode_sends_no_signature(scripted: Scripted) -> None:
    api = scripted(lambda _: Reply(chunks=[b'{"agents": []}']))
    with InProcessGateway(gateway_settings(api.url)) as gateway:
        gateway.metadata.ListAgents(agent_pb2.ListAgentsRequest(), timeout=5)

    (received,) = api.received
    assert "authorization" not in received.headers and "x-amz-date" not in received.headers


@pytest.mark.parametrize(
    ("url", "service", "region"),
    [
        ("https://abcdefghij.lambda-url.eu-west-1.on.aws/", "lambda", "eu-west-1"),
        ("https://a1b2c3.execute-api.us-gov-west-1.amazonaws.com/prod", "execute-api",
         "us-gov-west-1"),
    ],
)  # fmt: skip
def test_service_and_region_come_from_aws_host_names(url: str, service: str, region: str) -> None:
    assert service_for(url) == service
    assert region_for(url, default="us-east-1") == region
    assert service_for(url, "execute-api") == "execute-api"  # explicit settings win
    assert region_for(url, "ap-south-1") == "ap-south-1"


def test_a_custom_domain_needs_the_service_and_falls_back_to_the_default_region() -> None:
    with pytest.raises(SigningConfigError, match="--sigv4-service"):
        service_for("https://connector.example.com")
    assert region_for("https://connector.example.com", default="eu-central-1") == "eu-central-1"
    with pytest.raises(SigningConfigError, match="--sigv4-region"):
        region_for("https://connector.example.com")


class FailingCredentials:
    """Credentials whose refresh fails, as botocore's do when IRSA or STS does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_frozen_credentials(self) -> Credentials:
        raise self.error


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (NoCredentialsError(), "NoCredentialsError"),
        (CredentialRetrievalError(provider="assume-role-with-web-identity",
                                  error_msg="token secret-token-value"),
         "CredentialRetrievalError"),
        (ClientError({"Error": {"Code": "InvalidIdentityToken",
                                "Message": "token secret-token-value"}},
                     "AssumeRoleWithWebIdentity"),
         "ClientError InvalidIdentityToken"),
        (FileNotFoundError(2, "No such file", "/var/run/secrets/eks.amazonaws.com/token"),
         "FileNotFoundError"),
    ],
)  # fmt: skip
def test_credentials_that_cannot_be_had_are_unavailable_and_say_what_to_check(
    scripted: Scripted, error: Exception, named: str
) -> None:
    api = scripted(lambda _: Reply(chunks=[b'{"resource": {"phase": "RUNNING"}}']))
    signer = SigV4Signer(FailingCredentials(error), service="lambda", region="eu-west-1")
    request = agent_pb2.GetTaskRequest(
        task_category=agent_pb2.TaskCategory(name="mmcloud_task"), resource_meta=META
    )
    with (
        InProcessGateway(gateway_settings(api.url, unsigned=False), signer=signer) as gateway,
        pytest.raises(grpc.RpcError) as caught,
    ):
        gateway.tasks.GetTask(request, timeout=5)

    failure = caught.value
    assert failure.code() == grpc.StatusCode.UNAVAILABLE  # not a bare INTERNAL
    details = failure.details()
    assert details.startswith(f"GetTask: cannot get AWS credentials to sign with ({named});")
    assert "IAM role" in details
    assert "secret-token-value" not in details and "/var/run" not in details
    assert api.received == []  # nothing unsigned went out
