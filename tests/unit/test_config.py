"""Settings from AURION_* variables: defaults, and one-line errors naming the variable."""

from datetime import date
from pathlib import Path

import pytest

from aurion_pipeline.config import ConfigError, check_tenants, load_settings, load_tenants, sql_folder


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.base_url == "https://apps.aurionai.net"
    assert settings.max_range_days == 31 and settings.lookback_days == 3
    assert settings.end_date_inclusive is True
    assert (settings.max_workers, settings.requests_per_tenant) == (8, 4)
    assert load_settings({"AURION_REQUESTS_PER_TENANT": "1"}).requests_per_tenant == 1
    assert (settings.commit_seconds, load_settings({"AURION_COMMIT_SECONDS": "0"}).commit_seconds) == (5, 0)
    assert settings.data_dir == Path("./data").resolve()


@pytest.mark.parametrize(
    "env, names",
    [
        pytest.param({"AURION_MAX_RANGE_DAYS": "abc"}, "AURION_MAX_RANGE_DAYS", id="non-numeric range"),
        pytest.param({"AURION_MAX_RANGE_DAYS": "0"}, "AURION_MAX_RANGE_DAYS", id="zero range"),
        pytest.param({"AURION_START_DATE": "2025-13-01"}, "AURION_START_DATE", id="impossible date"),
        pytest.param({"AURION_BASE_URL": "ftp://x"}, "AURION_BASE_URL", id="not http"),
        pytest.param({"AURION_BASE_URL": "http://apps.aurionai.net"}, "AURION_BASE_URL", id="plain http off loopback"),
        pytest.param({"AURION_END_DATE_INCLUSIVE": "maybe"}, "AURION_END_DATE_INCLUSIVE", id="not a boolean"),
        pytest.param({"AURION_LOOKBACK_DAYS": "-1"}, "AURION_LOOKBACK_DAYS", id="negative lookback"),
        pytest.param({"AURION_REQUESTS_PER_TENANT": "0"}, "AURION_REQUESTS_PER_TENANT", id="no requests per tenant"),
    ],
)
def test_bad_values_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=names) as err:
        load_settings(env)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9", "http://[::1]:80", "https://x.example"])
def test_plain_http_is_allowed_only_to_loopback(url):
    assert load_settings({"AURION_BASE_URL": url}).base_url == url


def test_start_date_parses():
    assert load_settings({"AURION_START_DATE": "2025-01-01"}).start_date == date(2025, 1, 1)


def test_single_tenant_from_api_key_variable():
    (tenant,) = load_tenants({"AURION_TENANT": "acme"})
    assert tenant.name == "acme" and tenant.api_key_env == "AURION_API_KEY"


def test_an_empty_aurion_tenant_is_the_default_like_any_empty_variable():
    (tenant,) = load_tenants({"AURION_TENANT": ""})
    assert tenant.name == "default"


def test_tenants_file_names_env_vars_not_keys(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("- {name: acme, api_key_env: ACME_KEY}\n- {name: globex, api_key_env: GLOBEX_KEY}\n")
    tenants = load_tenants({"AURION_TENANTS_FILE": str(path)})
    assert [(t.name, t.api_key_env) for t in tenants] == [("acme", "ACME_KEY"), ("globex", "GLOBEX_KEY")]


@pytest.mark.parametrize(
    "text, fragment",
    [
        pytest.param("- {name: acme, api_key: ak_live_123}\n", "must have the keys", id="a key instead of its env var"),
        pytest.param("- {name: acme, api_key_env: 'ak live'}\n", "NAME of an environment variable",
                     id="not an env name"),
        pytest.param("- {name: a, api_key_env: K}\n- {name: a, api_key_env: K}\n", "more than once", id="duplicate"),
        pytest.param("name: acme\n", "non-empty YAML list", id="not a list"),
        pytest.param("- {name: acme, api_key_env: K, plan: starter, extra: 1}\n", "unknown key(s) extra; the keys are",
                     id="an unknown key is named"),
        pytest.param("- {name: acme, api_key_env: K, ak_live_123}\n", "unknown key(s) (1 not shown",
                     id="a key pasted as a key of the entry is not shown"),
        pytest.param("- [unclosed\n", "not readable YAML", id="broken yaml"),
    ],
)
def test_bad_tenants_file_is_one_clear_line(tmp_path, text, fragment):
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="AURION_TENANTS_FILE") as err:
        load_tenants({"AURION_TENANTS_FILE": str(path)})
    assert fragment in str(err.value) and "ak_live_123" not in str(err.value)


def test_an_unknown_tenant_is_named_with_the_configured_ones(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("- {name: acme, api_key_env: ACME_KEY}\n- {name: globex, api_key_env: GLOBEX_KEY}\n")
    settings = load_settings({"AURION_TENANTS_FILE": str(path)})
    configured = [t.name for t in settings.tenants]
    check_tenants(configured, ["acme"])
    with pytest.raises(ConfigError, match=r"^--tenant initech is not configured; configured tenants: acme, globex$"):
        check_tenants(configured, ["acme", "initech"])


def test_missing_tenants_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_tenants({"AURION_TENANTS_FILE": str(tmp_path / "nope.yaml")})


def test_sql_dir_defaults_to_the_repository_folder_in_a_checkout():
    assert sql_folder({}) == Path(__file__).resolve().parents[2] / "dbt_like_sql"


def test_sql_dir_points_at_your_own_copy(tmp_path):
    (tmp_path / "mine" / "models").mkdir(parents=True)
    assert sql_folder({"AURION_SQL_DIR": str(tmp_path / "mine")}) == tmp_path / "mine"


@pytest.mark.parametrize(
    "name, fragment",
    [
        pytest.param("missing", "is not a folder", id="missing path"),
        pytest.param("plan.sql", "is not a folder", id="a file"),
        pytest.param("", "has no models/ folder", id="a folder without models/"),
    ],
)
def test_bad_sql_dir_names_the_variable_and_the_fix(tmp_path, name, fragment):
    (tmp_path / "plan.sql").write_text("select 1")
    with pytest.raises(ConfigError, match="AURION_SQL_DIR") as err:
        sql_folder({"AURION_SQL_DIR": str(tmp_path / name)})
    assert fragment in str(err.value) and "dbt_like_sql/" in str(err.value) and "\n" not in str(err.value)
