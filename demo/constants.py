"""Names shared by the demo stack, the tests and the docs: one place to change them."""

from __future__ import annotations

from typing import Final

# --- environment variables the connector app reads -------------------------------------------
#: Name of the Secrets Manager secret holding ``{"address", "username", "password"}``.
CREDENTIALS_SECRET_ENV: Final = "MMC_CREDENTIALS_SECRET"
#: Name of the Secrets Manager secret holding the shared OpCenter session token ``{"token"}``.
TOKEN_SECRET_ENV: Final = "MMC_TOKEN_SECRET"
#: boto3's per-service endpoint override; the demo points it at moto.
SECRETS_MANAGER_ENDPOINT_ENV: Final = "AWS_ENDPOINT_URL_SECRETS_MANAGER"

# --- the secrets themselves --------------------------------------------------------------------
CREDENTIALS_SECRET_NAME: Final = "mmcloud/opcenter-credentials"
TOKEN_SECRET_NAME: Final = "mmcloud/opcenter-token"

# --- fake AWS for moto -------------------------------------------------------------------------
AWS_REGION: Final = "us-east-1"
FAKE_AWS_ACCESS_KEY_ID: Final = "testing"
FAKE_AWS_SECRET_ACCESS_KEY: Final = "testing"

# --- the emulated OpCenter ---------------------------------------------------------------------
OPCENTER_USERNAME: Final = "admin"
#: Seconds between the emulator's status steps (Submitted -> Initializing -> ... ).
EMULATOR_STEP_DELAY: Final = 0.2
#: The emulator reads its login password from this variable (kept out of argv and of its jobs).
EMULATOR_PASSWORD_ENV: Final = "MMC_EMULATOR_PASSWORD"
#: What the emulator prints once it is serving.
EMULATOR_READY_LINE: Final = "OpCenter emulator listening on"

# --- Flyte side ----------------------------------------------------------------------------------
TASK_TYPE: Final = "mmcloud_task"
TASK_TYPE_VERSION: Final = 0
PROJECT: Final = "flytesnacks"
DOMAIN: Final = "development"
NAMESPACE: Final = f"{PROJECT}-{DOMAIN}"
