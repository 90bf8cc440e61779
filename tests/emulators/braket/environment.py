"""The environment the AWS SDKs read to talk to the Braket emulator and moto: endpoints, fake
credentials, region, and the job context variables cleared.

Used by the fixtures (the tests' own process) and by the emulator itself for the processes of
hybrid jobs, whose SDK must reach the same emulator and moto.
"""

from __future__ import annotations

import os

__all__ = ["ACCOUNT_ID", "FAKE_CREDENTIALS", "REGION", "UNSET", "braket_env_vars"]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # what moto's STS GetCallerIdentity answers
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AMZN_BRAKET_JOB_TOKEN",
    "AMZN_BRAKET_OUT_S3_BUCKET",
    "AMZN_BRAKET_TASK_RESULTS_S3_URI",
    "AMZN_BRAKET_RESERVATION_DEVICE_ARN",
    "AMZN_BRAKET_RESERVATION_TIME_WINDOW_ARN",
)


def braket_env_vars(
    braket_url: str | None, moto_url: str, region: str = REGION
) -> dict[str, str | None]:
    """The environment the SDKs read, for this emulator and moto (value None: unset it):
    Braket at the emulator, S3, STS and CloudWatch Logs at moto. Without ``braket_url`` the
    two Braket endpoint variables are left out."""
    env: dict[str, str | None] = dict.fromkeys(UNSET)
    env.update(FAKE_CREDENTIALS)
    if braket_url is not None:
        env.update({"AWS_ENDPOINT_URL_BRAKET": braket_url, "BRAKET_ENDPOINT": braket_url})
    env.update(
        {
            "AWS_ENDPOINT_URL_S3": moto_url,
            "AWS_ENDPOINT_URL_STS": moto_url,
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": moto_url,  # service id "CloudWatch Logs"
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env
