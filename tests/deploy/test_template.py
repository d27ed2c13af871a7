"""template.yaml transformed by aws-sam-translator (as `sam deploy` does), then resolved for given
parameter values: the resources and permissions that matter for a production deployment."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from deploy_helpers import (
    ROOT,
    as_list,
    load_template,
    of_type,
    policy_statements,
    resolve,
    transform_template,
)

ALIAS = "ConnectorFunctionAliaslive"
ALIAS_REF = {"Ref": ALIAS}
CREDENTIALS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:opc/creds-AbCdEf"
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return transform_template()


def function(resolved: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = resolved["Resources"]["ConnectorFunction"]["Properties"]
    return props


def alias(resolved: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = resolved["Resources"][ALIAS]["Properties"]
    return props


def role_statements(resolved: dict[str, Any]) -> dict[str, dict[str, Any]]:
    statements = policy_statements(resolved["Resources"]["ConnectorRole"])
    return {s["Sid"]: s for s in statements}


def test_python312_function_on_arm64_by_default(cfn: dict[str, Any]) -> None:
    props = function(resolve(cfn))
    assert props["Runtime"] == "python3.12"
    assert props["Handler"] == "handler.app.lambda_handler"
    assert props["Architectures"] == ["arm64"]
    assert function(resolve(cfn, Architecture="x86_64"))["Architectures"] == ["x86_64"]


def test_snapstart_on_published_versions_behind_the_alias(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    assert function(resolved)["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    versions = of_type(resolved, "AWS::Lambda::Version")
    assert len(versions) == 1
    (version_name,) = versions
    assert alias(resolved)["Name"] == "live"
    assert alias(resolved)["FunctionVersion"] == {"Fn::GetAtt": [version_name, "Version"]}
    assert "ProvisionedConcurrencyConfig" not in alias(resolved)


def test_provisioned_concurrency_replaces_snapstart(cfn: dict[str, Any]) -> None:
    resolved = resolve(
        cfn, StartupMode="ProvisionedConcurrency", ProvisionedConcurrentExecutions="3"
    )
    assert "SnapStart" not in function(resolved)
    assert alias(resolved)["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": "3"
    }


def test_on_demand_has_neither_snapstart_nor_provisioned_concurrency(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn, StartupMode="OnDemand")
    assert "SnapStart" not in function(resolved)
    assert "ProvisionedConcurrencyConfig" not in alias(resolved)


def test_the_only_endpoint_is_an_iam_function_url_on_the_alias(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    urls = of_type(resolved, "AWS::Lambda::Url")
    assert [u["Properties"] for u in urls.values()] == [
        {"TargetFunctionArn": ALIAS_REF, "AuthType": "AWS_IAM"}
    ]
    assert of_type(resolved, "AWS::Lambda::Permission") == {}  # nothing public, no API
    assert of_type(resolved, "AWS::ApiGatewayV2::Api") == {}


def test_the_optional_http_api_requires_iam_and_invokes_the_alias(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn, ExposeHttpApi="true")
    (api,) = of_type(resolved, "AWS::ApiGatewayV2::Api").values()
    body = api["Properties"]["Body"]
    (default_route,) = body["paths"]["$default"].values()
    assert default_route["security"] == [{"AWS_IAM": []}]
    assert body["components"]["securitySchemes"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == (
        "awsSigv4"
    )
    uri = default_route["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
    assert uri.endswith("/functions/${ConnectorFunction.Arn}:live/invocations")
    (permission,) = of_type(resolved, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["FunctionName"] == ALIAS_REF
    assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    assert permission["Properties"]["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*")
    assert "HttpApiUrl" in resolved["Outputs"]


def test_function_role_is_least_privilege(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    role = resolved["Resources"]["ConnectorRole"]["Properties"]
    assert "ManagedPolicyArns" not in role  # no AWSLambdaBasicExecutionRole (logs:* on *)
    assert function(resolved)["Role"] == {"Fn::GetAtt": ["ConnectorRole", "Arn"]}
    statements = role_statements(resolved)
    assert set(statements) == {"WriteOwnLogs", "ReadCredentials", "ShareSessionToken"}
    logs = statements["WriteOwnLogs"]
    assert sorted(as_list(logs["Action"])) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"] == {"Fn::GetAtt": ["ConnectorLogGroup", "Arn"]}
    credentials = statements["ReadCredentials"]
    assert as_list(credentials["Action"]) == ["secretsmanager:GetSecretValue"]
    assert credentials["Resource"] == {"Ref": "CredentialsSecret"}
    token = statements["ShareSessionToken"]
    assert sorted(as_list(token["Action"])) == [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    assert token["Resource"] == {"Ref": "TokenSecret"}
    assert all(s["Effect"] == "Allow" for s in statements.values())


def test_an_existing_credentials_secret_is_referenced_not_created(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn, CredentialsSecretArn=CREDENTIALS_ARN, CredentialsKmsKeyArn=KMS_KEY_ARN)
    secrets = of_type(resolved, "AWS::SecretsManager::Secret")
    assert set(secrets) == {"TokenSecret"}
    statements = role_statements(resolved)
    assert statements["ReadCredentials"]["Resource"] == CREDENTIALS_ARN
    variables = function(resolved)["Environment"]["Variables"]
    assert variables["MMC_CREDENTIALS_SECRET"] == CREDENTIALS_ARN
    decrypt = statements["DecryptCredentials"]
    assert (decrypt["Action"], decrypt["Resource"]) == ("kms:Decrypt", KMS_KEY_ARN)
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }


def test_a_created_credentials_secret_starts_with_empty_fields(cfn: dict[str, Any]) -> None:
    secret = resolve(cfn)["Resources"]["CredentialsSecret"]["Properties"]
    assert json.loads(secret["SecretString"]) == {"address": "", "username": "", "password": ""}
    assert json.loads(resolve(cfn)["Resources"]["TokenSecret"]["Properties"]["SecretString"]) == {}


@pytest.mark.parametrize(
    "overrides",
    [{}, {"Tracing": "true", "ExposeHttpApi": "true", "GatewayRoleForEksPodIdentity": "true"}],
)
def test_no_wildcard_resource_but_xray(cfn: dict[str, Any], overrides: dict[str, str]) -> None:
    resolved = resolve(cfn, **overrides)
    policies = {
        name: resource
        for name, resource in resolved["Resources"].items()
        if resource["Type"] in {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
    }
    wildcards = [
        (name, statement["Action"])
        for name, resource in policies.items()
        for statement in policy_statements(resource)
        if "*" in as_list(statement.get("Resource"))
    ]
    expected = (
        [("ConnectorRole", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"])]
        if overrides
        else []
    )
    assert wildcards == expected  # X-Ray's two actions take no resource-level permissions


def test_tracing_is_off_unless_asked_for(cfn: dict[str, Any]) -> None:
    off, on = resolve(cfn), resolve(cfn, Tracing="true")
    assert function(off)["TracingConfig"] == {"Mode": "PassThrough"}
    assert function(off)["Environment"]["Variables"]["MMC_TRACING"] == "false"
    assert function(on)["TracingConfig"] == {"Mode": "Active"}
    assert function(on)["Environment"]["Variables"]["MMC_TRACING"] == "true"


def test_gateway_policy_invokes_the_alias_and_nothing_else(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    policy = resolved["Resources"]["GatewayInvokePolicy"]
    (statement,) = policy_statements(policy)
    assert sorted(as_list(statement["Action"])) == [
        "lambda:InvokeFunction",
        "lambda:InvokeFunctionUrl",
    ]
    assert statement["Resource"] == ALIAS_REF
    assert "GatewayRole" not in resolved["Resources"]

    with_api = resolve(cfn, ExposeHttpApi="true", GatewayRoleForEksPodIdentity="true")
    statements = policy_statements(with_api["Resources"]["GatewayInvokePolicy"])
    assert [s["Action"] for s in statements] == [
        ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
        "execute-api:Invoke",
    ]
    role = with_api["Resources"]["GatewayRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Ref": "GatewayInvokePolicy"}]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}


def test_outputs_for_the_gateway(cfn: dict[str, Any]) -> None:
    outputs = resolve(cfn)["Outputs"]
    assert outputs["FunctionUrl"]["Value"] == {
        "Fn::GetAtt": ["ConnectorFunctionUrl", "FunctionUrl"]
    }
    assert outputs["FunctionAliasArn"]["Value"] == ALIAS_REF
    assert outputs["GatewayInvokePolicyArn"]["Value"] == {"Ref": "GatewayInvokePolicy"}
    assert outputs["CredentialsSecretArn"]["Value"] == {"Ref": "CredentialsSecret"}
    assert "GatewayRoleArn" not in outputs


def test_logs_retention_and_powertools_environment(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn, LogRetentionDays="14", LogLevel="DEBUG")
    group = resolved["Resources"]["ConnectorLogGroup"]["Properties"]
    assert group["RetentionInDays"] == "14"
    props = function(resolved)
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "ConnectorLogGroup"}
    variables = props["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "mmcloud-connector"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "MMCloudConnector"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert variables["MMC_TOKEN_SECRET"] == {"Ref": "TokenSecret"}
    assert variables["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == ""  # boto3 ignores an empty endpoint


def test_reserved_concurrency_is_a_parameter(cfn: dict[str, Any]) -> None:
    assert "ReservedConcurrentExecutions" not in function(resolve(cfn))
    assert function(resolve(cfn, ReservedConcurrency="20"))["ReservedConcurrentExecutions"] == "20"


def test_env_json_sets_only_variables_the_template_declares() -> None:
    """`sam local` ignores a variable the template does not declare, silently."""
    env = json.loads((ROOT / "infra" / "env.json").read_text())
    template = load_template()
    assert set(env) == {"ConnectorFunction"}
    assert template["Resources"]["ConnectorFunction"]["Type"] == "AWS::Serverless::Function"
    declared = template["Resources"]["ConnectorFunction"]["Properties"]["Environment"]["Variables"]
    assert set(env["ConnectorFunction"]) <= set(declared)


def test_samconfig_leaves_linting_to_make_validate() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())

    def keys(node: Any) -> set[str]:
        if not isinstance(node, dict):
            return set()
        return set(node) | {k for value in node.values() for k in keys(value)}

    assert "lint" not in keys(config)
    assert config["default"]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert config["default"]["local_invoke"]["parameters"]["env_vars"] == "infra/env.json"
