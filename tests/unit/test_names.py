"""The key prefix of embedded definitions (`build_defs(key_prefix=...)`): checked before Dagster sees it."""

from __future__ import annotations

import pytest

from aurion_pipeline.config_checks import ConfigError
from aurion_pipeline.defs.names import Names


@pytest.mark.parametrize("prefix", ["my-team", "aurion.usage", "", "1st", ["aurion", ""], []])
def test_a_prefix_dagster_would_refuse_or_misread_is_one_line(prefix):
    """"my-team" was a Dagster traceback about a group name; "" built asset keys under an empty part."""
    with pytest.raises(ConfigError) as error:
        Names.of(prefix)
    assert str(error.value).startswith(f"key_prefix {prefix!r}: ") and "\n" not in str(error.value)


def test_a_good_prefix_names_keys_and_objects():
    names = Names.of(["acme_co", "aurion"])
    assert names.asset_key("raw.usage_daily").path == ["acme_co", "aurion", "raw", "usage_daily"]
    assert names.name("usage_job") == "acme_co_aurion_usage_job"
    assert Names.of(None) == Names()
