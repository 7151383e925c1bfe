"""The production instance config (dagster_postgres.yaml) and the event batching our runs turn on."""

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from helpers_ops import REPO
from pg import PG_URL_VAR as URL_VAR

from aurion_pipeline.defs.instance_tuning import BATCHING_ENV, tune_event_batching


def test_the_postgres_instance_config_is_dagster_yaml_with_postgres_storage(tmp_path, monkeypatch):
    ours, base = (yaml.safe_load((REPO / name).read_text()) for name in ("dagster_postgres.yaml", "dagster.yaml"))
    assert ours.pop("storage") == {"postgres": {"postgres_url": {"env": URL_VAR}}}
    assert ours == base  # pools, run queue, run monitoring and retries as on the default instance
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster_postgres.yaml").read_text())
    monkeypatch.setenv(URL_VAR, "postgresql://dagster@db.invalid:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))  # validates against the installed Dagster's schema
    assert config["storage"]["postgres"]["postgres_url"] == {"env": URL_VAR}


@pytest.mark.parametrize(
    ("caller_set", "added"),
    [
        pytest.param({}, BATCHING_ENV, id="nothing set: both variables turned on"),
        pytest.param({"DAGSTER_EVENT_BATCH_SIZE": "0"}, {"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1"},
                     id="an explicit 0 keeps batching off"),
        pytest.param(dict(BATCHING_ENV, DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS="0"), {},
                     id="the caller's values win"),
    ],
)
def test_event_batching_fills_in_only_what_the_caller_left_unset(caller_set, added):
    environ = {"PATH": "/bin", **caller_set}
    assert tune_event_batching(environ) == added
    assert environ == {"PATH": "/bin", **caller_set, **added}
