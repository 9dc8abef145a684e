"""What a child process needs to reach the Azure double: name resolution, the CA, a signed-in CLI.

Lensflow runs training scripts, store workers and (in end-to-end tests) itself as child
processes, which get neither the tests' in-process ``*.localhost`` shim nor a
StaticTokenCredential. ``child_env`` gives them the same through their environment:

- ``child_site/sitecustomize.py`` on PYTHONPATH, switched on by LENSFLOW_TEST_RESOLVE_LOCALHOST=1;
- a fake Azure CLI first on PATH: ``az account get-access-token ... --output json`` prints the
  double's token in the JSON that azure-identity's AzureCliCredential parses, so ``azureAuth:
  "cli"`` (and DefaultAzureCredential, which tries the CLI) signs in for real;
- ARM_CLOUD_METADATA_URL, AZUREML_CURRENT_CLOUD and REQUESTS_CA_BUNDLE for the double, and no
  proxies.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.azure_double.server import CLOUD_NAME, AzureDouble

CHILD_SITE = Path(__file__).with_name("child_site")
RESOLVE_ENV = "LENSFLOW_TEST_RESOLVE_LOCALHOST"
# Set in a child's environment to make the fake CLI hand out another token (a rejected one).
FAKE_AZ_TOKEN_ENV = "LENSFLOW_FAKE_AZ_TOKEN"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

_FAKE_AZ = '''#!{python}
"""A fake Azure CLI (Lensflow's tests): answers `az account get-access-token` for the double."""
import datetime
import json
import os
import sys
import time

TOKEN = {token!r}
SUBSCRIPTION = {subscription!r}
TENANT = {tenant!r}
CALLS = {calls!r}

args = sys.argv[1:]
with open(CALLS, "a", encoding="utf-8") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] != ["account", "get-access-token"]:
    print("ERROR: the fake az answers only 'account get-access-token'", file=sys.stderr)
    sys.exit(2)
expires_on = int(time.time()) + 3600
print(json.dumps({{
    "accessToken": os.environ.get({token_env!r}, TOKEN),
    # A naive local time, as the real CLI prints it; azure-identity prefers expires_on.
    "expiresOn": datetime.datetime.fromtimestamp(expires_on).strftime("%Y-%m-%d %H:%M:%S.%f"),
    "expires_on": expires_on,
    "subscription": SUBSCRIPTION,
    "tenant": TENANT,
    "tokenType": "Bearer",
}}, indent=2))
'''


@dataclass(frozen=True)
class FakeAzureCli:
    """The fake ``az``: the folder to put first on PATH, and the file each call is logged to."""

    bin_dir: Path
    calls_log: Path

    def calls(self) -> list[list[str]]:
        """The argument lists ``az`` was called with, in order."""
        if not self.calls_log.exists():
            return []
        lines = self.calls_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def forget_calls(self) -> None:
        self.calls_log.unlink(missing_ok=True)


def write_fake_az(directory: Path, double: AzureDouble) -> FakeAzureCli:
    """An executable ``az`` in ``directory/bin`` that hands out the double's accepted token."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls_log = directory / "az-calls.jsonl"
    script = bin_dir / "az"
    script.write_text(
        _FAKE_AZ.format(
            python=sys.executable,
            token=sorted(double.accepted_tokens)[0],
            subscription=double.subscription_id,
            tenant=double.tenant_id,
            calls=str(calls_log),
            token_env=FAKE_AZ_TOKEN_ENV,
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return FakeAzureCli(bin_dir=bin_dir, calls_log=calls_log)


def child_env_overrides(double: AzureDouble, cli: FakeAzureCli) -> dict[str, str]:
    """The variables a child needs on top of (a proxy-free copy of) the test's environment."""
    assert double.ca_bundle is not None
    python_path = os.environ.get("PYTHONPATH", "")
    return {
        "ARM_CLOUD_METADATA_URL": double.metadata_url,
        "REQUESTS_CA_BUNDLE": str(double.ca_bundle),
        RESOLVE_ENV: "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(CHILD_SITE), python_path) if p),
        "PATH": os.pathsep.join((str(cli.bin_dir), os.environ.get("PATH", os.defpath))),
        "NO_PROXY": "127.0.0.1,localhost,.localhost",
        "AZUREML_SDKV2_TELEMETRY_OPTOUT": "1",
        # Names the double's cloud (from ARM_CLOUD_METADATA_URL): without it azureml-mlflow
        # looks the default cloud up at management.azure.com first.
        "AZUREML_CURRENT_CLOUD": CLOUD_NAME,
    }


def child_env(double: AzureDouble, cli: FakeAzureCli) -> dict[str, str]:
    """A whole environment for a child of the test: the test's own, minus proxies and what the
    SDKs or an earlier test left (AZUREML_CURRENT_CLOUD, MLFLOW_*), plus the overrides."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in _PROXY_VARS
        and key != "AZUREML_CURRENT_CLOUD"
        and not key.startswith("MLFLOW_")
    }
    env.update(child_env_overrides(double, cli))
    return env


@pytest.fixture(scope="session")
def fake_az(
    azure_double_server: AzureDouble, tmp_path_factory: pytest.TempPathFactory
) -> FakeAzureCli:
    return write_fake_az(tmp_path_factory.mktemp("fake-az"), azure_double_server)


@pytest.fixture
def azure_child_env(azure_double: AzureDouble, fake_az: FakeAzureCli) -> dict[str, str]:
    """The environment for a child process that talks to the double (see ``child_env``)."""
    fake_az.forget_calls()
    return child_env(azure_double, fake_az)
