"""The AWS door's region setting: --aws-region / PYEHSM_AWS_REGION, checked at start, reaching the adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyehsm.app import configured_adapters
from pyehsm.config import Settings
from pyehsm.errors import StartupError
from pyehsm.protocols.awskms.adapter import AwsKmsAdapter


def test_the_default_region_and_the_environment_variable(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).aws_region == "us-east-1"
    settings = Settings.from_env({"PYEHSM_AWS_REGION": "eu-central-1", "PYEHSM_DATA_DIR": str(tmp_path)})
    assert settings.validate().aws_region == "eu-central-1"
    assert Settings.from_env(settings.to_env()).aws_region == "eu-central-1"  # reaches worker processes


@pytest.mark.parametrize("region", ["", "EU-WEST-1", "us-east-1:evil", "us east 1", "a" * 33, "-us"])
def test_a_region_that_cannot_be_in_an_arn_is_refused_at_start(tmp_path: Path, region: str) -> None:
    with pytest.raises(StartupError, match="--aws-region"):
        Settings(data_dir=tmp_path, aws_region=region).validate()


def test_the_setting_reaches_the_aws_adapter(tmp_path: Path) -> None:
    adapters = configured_adapters(Settings(data_dir=tmp_path, aws_region="ap-southeast-2"))
    regions = [a.region for a in adapters if isinstance(a, AwsKmsAdapter)]
    assert regions == ["ap-southeast-2"]
