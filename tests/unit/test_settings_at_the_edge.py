"""Every setting of the README's configuration table, given a bad value, stops the CLI before any
Dagster run or network request: exit 2, one line on stderr naming the variable, no key repeated."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers_ops import clean_env

from aurion_pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
SECRET = "ak_live_Zq9SECRETvalue0042"  # must never appear in any output
COMMAND = ["backfill", "--start", "2025-01-01", "--end", "2025-01-02"]


@dataclass(frozen=True)
class Bad:
    """One bad value: `value` (None = unset), the text stderr must name (default: the variable),
    and files to create under the test's folder first (path -> text; a trailing / makes a folder)."""

    value: str | None
    names: str = ""
    files: dict[str, str] = field(default_factory=dict)


TENANTS_OK = "- {name: acme, api_key_env: ACME_KEY}\n"
# {tmp} in a value is the test's folder.
CASES: dict[str, list[Bad]] = {
    "AURION_API_KEY": [Bad(None), Bad(""), Bad("ak_live_ with a space"), Bad("ak_live_\nnewline")],
    # empty is the default, as for every variable; a trailing newline is no name
    "AURION_TENANT": [Bad("a b"), Bad("../../etc"), Bad("acme\n")],
    "AURION_TENANTS_FILE": [
        Bad("{tmp}/missing.yaml"),
        Bad("{tmp}/t.yaml", files={"t.yaml": "- [unclosed\n"}),
        Bad("{tmp}/t.yaml", files={"t.yaml": "name: acme\n"}),
        Bad("{tmp}/t.yaml", files={"t.yaml": TENANTS_OK * 2}),
        Bad("{tmp}/t.yaml", names="NOT_SET_ANYWHERE",
            files={"t.yaml": "- {name: acme, api_key_env: NOT_SET_ANYWHERE}\n"}),
        Bad("{tmp}/t.yaml", files={"t.yaml": f"- {{name: acme, api_key_env: {SECRET}}}\n"}),
        Bad("{tmp}/t.yaml", files={"t.yaml": f"- {{name: acme, api_key: {SECRET}}}\n"}),
        Bad("{tmp}/t.yaml", files={"t.yaml": "- {name: acme, api_key_env: ACME_KEY, plan: platinum}\n"}),
        Bad("{tmp}/dir", files={"dir/": ""}),
    ],
    "AURION_BASE_URL": [Bad("ftp://x"), Bad("http://apps.aurionai.net"), Bad("not a url"),
                        Bad("https://exa mple.com"), Bad("https://127.0.0.1:99999"), Bad("https://[::1"),
                        Bad(f"https://user:{SECRET}@apps.aurionai.net"), Bad(f"http://127.0.0.1:18765/api?api_key={SECRET}#f"),
                        Bad("https://apps.aurionai.net/#top")],
    "AURION_DATA_DIR": [Bad("{tmp}/file", files={"file": "x"}), Bad("{tmp}/file/below", files={"file": "x"}),
                        Bad("/proc/aurion-data")],
    "AURION_SQL_DIR": [Bad("{tmp}/missing"), Bad("{tmp}/file", files={"file": "x"}),
                       Bad("{tmp}/empty", files={"empty/": ""})],
    "AURION_START_DATE": [Bad("2025-13-01"), Bad("2099-01-01"), Bad("yesterday")],
    "AURION_MAX_RANGE_DAYS": [Bad("abc"), Bad("0"), Bad("400")],
    "AURION_END_DATE_INCLUSIVE": [Bad("maybe"), Bad("2")],
    "AURION_LOOKBACK_DAYS": [Bad("-1"), Bad("x"), Bad("91")],
    "AURION_MAX_WORKERS": [Bad("0"), Bad("1000")],
    "AURION_REQUESTS_PER_TENANT": [Bad("0"), Bad("many")],
    "AURION_LOCK_TIMEOUT_SECONDS": [Bad("-5"), Bad("soon")],
    "AURION_REQUEST_DEADLINE_SECONDS": [Bad("0"), Bad("soon"), Bad("4000")],
    "AURION_COMMIT_SECONDS": [Bad("-1"), Bad("often"), Bad("4000")],
    "AURION_ALERTS_MAX_AGE_HOURS": [Bad("0"), Bad("forever")],
    "AURION_DAGSTER_PG_URL": [Bad("mysql://u:secretpw@db/x"), Bad("postgresql://u:secretpw@/"), Bad("localhost"),
                              Bad("postgres://u:secretpw@db:5432/x"),  # SQLAlchemy 2.0 has no postgres:// dialect
                              Bad(None, files={"home/dagster.yaml": (REPO / "dagster_postgres.yaml").read_text()})],
    "AURION_DUCKDB_MEMORY_LIMIT": [Bad("0MB"), Bad("1MB"), Bad("lots")],
    "AURION_DAILY_CRON": [Bad("61 * * * *"), Bad("* * * * * *"), Bad("daily")],
    "AURION_SUMMARY_CRON": [Bad("0 0 30 2 *"), Bad("every 6 hours")],
    "AURION_ANALYST_STORAGE_VERSION": [Bad("v0.9.0"), Bad("v9.9.9"), Bad("latest")],
    "AURION_ALERTS_FILE": [
        Bad("{tmp}/missing.yaml"), Bad("{tmp}/dir", files={"dir/": ""}),
        # URLs that urlsplit refuses, or that requests refuses at every send (which was retried for 72 h)
        *(Bad("{tmp}/a.yaml", files={"a.yaml": f"channels:\n  - {{name: ops, kind: webhook, url: '{url}', "
                                               "secret_env: ACME_KEY}\n"})
          for url in ("https://[::1", "http://localhost:99999/", "https://hooks.exa mple.com/x")),
    ],
    "DAGSTER_HOME": [Bad("{tmp}/file", files={"file": "x"}), Bad("/proc/aurion-home")],
}


def readme_settings() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE)


def test_every_setting_of_the_readme_has_bad_values_here():
    assert sorted(readme_settings()) == sorted(CASES)
    assert all(len(bad) >= 2 for bad in CASES.values())


def test_every_variable_the_settings_read_is_in_the_readme():
    read = set()
    for module in ("config.py", "config_checks.py", "config_tenants.py"):
        read |= set(re.findall(r'"((?:AURION|DAGSTER)_[A-Z_]+)"', (REPO / "aurion_pipeline" / module).read_text()))
    assert read <= set(readme_settings()), sorted(read - set(readme_settings()))


def good_env(tmp: Path) -> dict[str, str]:
    return {"AURION_API_KEY": SECRET, "AURION_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "home"),
            "ACME_KEY": SECRET}


def bad_env(tmp: Path, variable: str, bad: Bad) -> dict[str, str]:
    for path, text in bad.files.items():
        target = tmp / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    env = good_env(tmp)
    if bad.value is None:
        env.pop(variable, None)
    else:
        env[variable] = bad.value.replace("{tmp}", str(tmp))
    return env


PARAMS = [pytest.param(name, bad, id=f"{name}={bad.value!r}"[:80]) for name, bads in CASES.items() for bad in bads]


@pytest.mark.parametrize("variable, bad", PARAMS)
def test_a_bad_setting_exits_2_with_one_line_naming_it_before_any_run(tmp_path, monkeypatch, capfd, variable, bad):
    for name in [n for n in os.environ if n.startswith(("AURION_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    env = bad_env(tmp_path, variable, bad)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # defaults (./data, ./.dagster_home) land in the test's folder

    code = main(COMMAND)

    out, err = capfd.readouterr()
    assert code == 2, err
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert (bad.names or variable) in err
    assert SECRET not in err and "SECRET" not in err
    assert not any(tmp_path.rglob("runs.db")), "a Dagster run was created"


def test_a_tenant_that_is_not_configured_exits_2_naming_the_configured_ones(tmp_path, monkeypatch, capfd):
    (tmp_path / "t.yaml").write_text(TENANTS_OK)
    for name, value in {**good_env(tmp_path), "AURION_TENANTS_FILE": str(tmp_path / "t.yaml")}.items():
        monkeypatch.setenv(name, value)
    code = main([*COMMAND, "--tenant", "acmee"])
    _, err = capfd.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "acmee" in err and "acme" in err.split("configured", 1)[1]
    assert not any(tmp_path.rglob("runs.db"))


PROBE = """
import sys
from aurion_pipeline.cli import main
code = main(sys.argv[1:])
print("dagster imported:", "dagster" in sys.modules)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "variable, value",
    [
        pytest.param("AURION_DAILY_CRON", "61 * * * *", id="a bad cron"),
        pytest.param("AURION_API_KEY", None, id="no key"),
    ],
)
def test_a_bad_setting_is_reported_without_importing_dagster(tmp_path, variable, value):
    env = clean_env()
    env.update(good_env(tmp_path))
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    result = subprocess.run([sys.executable, "-c", PROBE, *COMMAND], env=env, capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout.strip() == "dagster imported: False"
    assert len(result.stderr.strip().splitlines()) == 1 and variable in result.stderr


# The edges: config.py reads the environment, and the CLI and definitions.py (the code location's edge)
# hand os.environ to it; cli/runs.py sets DAGSTER_HOME, which is how Dagster finds its instance, and
# (with definitions.py and dev_env.py's command line) Dagster's own event-batching variables; the
# demo puts the sandbox's public keys in the environment because keys are read from there, like every
# key; the alert sensor hands the environment to delivery for channel secrets, read only when an alert
# is sent (as API keys are when a client is built).
ENVIRONMENT_READERS = {
    "aurion_pipeline/config.py", "aurion_pipeline/cli/__init__.py", "aurion_pipeline/cli/demo.py",
    "aurion_pipeline/cli/runs.py", "aurion_pipeline/definitions.py", "aurion_pipeline/defs/dev_env.py",
    "aurion_pipeline/defs/alerts/sensors.py",
}


def test_nothing_below_the_edge_reads_the_environment():
    readers = {
        str(path.relative_to(REPO))
        for path in (REPO / "aurion_pipeline").rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text())
    }
    assert readers <= ENVIRONMENT_READERS, sorted(readers - ENVIRONMENT_READERS)


@pytest.mark.parametrize(("args", "said"), [
    pytest.param(["demo", "--days", "0"], "'0' is not a whole number (from 1 to 3660)", id="demo-no-days"),
    pytest.param(["sandbox", "--tenants", "-1"], "'-1' is not a whole number (0 or more)", id="sandbox-negative"),
    pytest.param(["backfill", "--start", "2026-13-01", "--end", "2026-12-31"], "'2026-13-01' is not a date",
                 id="backfill-bad-date"),
    pytest.param(["sql"], "required: query (see aurion-pipeline sql --help)", id="sql-no-query"),
    pytest.param(["load"], "invalid choice: 'load'", id="unknown-command"),
])
def test_bad_arguments_are_refused_by_the_parser_in_one_line(tmp_path, monkeypatch, capfd, args, said):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(args)
    _, err = capfd.readouterr()
    assert exited.value.code == 2 and said in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir()), "the demo started"


def test_yesterday_is_a_date_the_backfill_takes():
    from datetime import UTC, datetime, timedelta

    from aurion_pipeline.cli import build_parser

    args = build_parser().parse_args(["backfill", "--start", "2026-01-01", "--end", "yesterday"])
    assert args.end == datetime.now(UTC).date() - timedelta(days=1)


@pytest.mark.parametrize("args", [["-v", "status"], ["status", "-v"], ["--verbose", "sql", "select 1"]])
def test_verbose_is_taken_before_or_after_the_command(args):
    from aurion_pipeline.cli import build_parser

    assert build_parser().parse_args(args).verbose is True
    assert build_parser().parse_args([a for a in args if a not in ("-v", "--verbose")]).verbose is False


@pytest.mark.parametrize("args", [["--test", "ops", "--deliver"], ["--deliver", "--retry-given-up"],
                                  ["--retry-given-up", "--test", "ops"]])
def test_alerts_takes_one_action_at_a_time_and_says_so_in_one_line(args, capsys):
    from aurion_pipeline.cli import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["alerts", *args])

    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not allowed with argument" in lines[0] and "alerts --help" in lines[0]
