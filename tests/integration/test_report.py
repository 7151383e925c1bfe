"""The HTML report: one self-contained file, rendered by headless Chromium with the network cut off,
a chart per tenant, a screenshot that is not blank, and no script or stylesheet fetched over http(s)."""

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from helpers_ops import pipeline_env

from aurion_pipeline.report.build import report_html
from aurion_pipeline.report.svg import usage_path, utilization_bars
from aurion_sandbox import DEFAULT_TENANTS, SandboxServer

pytestmark = pytest.mark.timeout(1200)  # the first browser test also runs the demo (minutes on a busy machine)
TODAY = datetime.now(UTC).date()
REMOTE_SOURCE = re.compile(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I)
CSS_IMPORT = re.compile(r"""@import|url\(\s*["']?\s*(https?:)?//""", re.I)


def test_the_utilization_chart_draws_a_bar_per_quota_and_a_line_per_threshold():
    chart = utilization_bars([("voice_minutes", 104.0, "overage", "1,040 / 1,000"), ("api_calls", 40.0, "ok", "x")],
                             [80.0, 95.0, 100.0])
    assert chart.count("stroke-dasharray") == 3 and ">80%<" in chart and ">95%<" in chart and ">100%<" in chart
    assert chart.count('fill="#c62828"') == 1 and chart.count('fill="#2e7d32"') == 1


def analyst_copy(thresholds: str, utilization: str):
    """An in-memory analyst copy with these rows (SQL `values` lists) of the seed and plan_utilization."""
    import duckdb

    con = duckdb.connect()
    con.execute("create schema analytics; create schema seeds")
    con.execute(f"create table seeds.alert_thresholds as select * from (values {thresholds})"
                " t(alert_level, severity, threshold_pct, inclusive)")
    con.execute(f"""create table analytics.plan_utilization as select * from (values {utilization})
        t(tenant, plan, quota_name, used, quota, pct_used, alert_level, period_start, period_end, is_current)""")
    return con


def test_the_report_draws_the_thresholds_of_the_seed_and_the_accuracy_ranges_in_order():
    # A user's own thresholds (the seed is theirs to edit), not the shipped 80 / 95 / 100.
    con = analyst_copy("('warning', 1, 50.0, true), ('overage', 2, 90.0, false)",
                       "('acme', 'pro', 'voice_minutes', 600.0, 1000.0, 60.0, 'warning', date '2026-11-01', "
                       "date '2026-11-30', true)")
    con.execute("""create table analytics.forecast_accuracy as select * from (values
        ('all', 'all', 1, 31, 90, 3.0, 4.0, 0.8), ('all', '7', 7, 7, 10, 1.0, 2.0, 0.8),
        ('all', '8-14', 8, 14, 30, 2.0, 3.0, 0.8), ('all', '1-7', 1, 7, 30, 5.0, 6.0, 0.8),
        ('voice_minutes', '1-7', 1, 7, 15, 5.0, 6.0, 0.8))
        t(quota_name, days_elapsed_bucket, days_from, days_to, forecasts, mape, naive_mape, interval_coverage)""")
    html = report_html(con, datetime(2026, 11, 30, tzinfo=UTC), "data")
    assert ">50%<" in html and ">90%<" in html and ">80%<" not in html and "the 50, 90 % alert lines" in html
    accuracy = html.split("Forecast accuracy", 1)[1]
    assert re.findall(r"<tr><td>([^<]+)</td>", accuracy) == ["1-7", "8-14", "all"]
    assert "<td>80.0 %</td>" in accuracy


def test_a_quota_with_no_day_loaded_reads_not_loaded_not_zero():
    con = analyst_copy("('warning', 1, 80.0, true)", """
        ('acme', 'pro', 'api_calls', null::decimal(38, 3), 50000.0, null::double, 'unknown', date '2026-11-15',
         date '2026-12-14', true),
        ('acme', 'pro', 'storage_mb', null::decimal(38, 3), 5000.0, null::double, 'unknown', date '2026-11-15',
         date '2026-12-14', true)""")
    html = report_html(con, datetime(2026, 11, 30, tzinfo=UTC), "data")
    assert "not loaded / 50,000" in html and "0 / 50,000" not in html
    assert "no snapshot / 5,000" in html  # storage is never loaded by day


def test_an_analyst_copy_published_before_is_estimated_is_still_drawn():
    """usage_forecast_daily gained is_estimated: a copy published by the previous version (until the next
    load rebuilds the models) still draws its lines, without the note on days not loaded."""
    con = analyst_copy("('warning', 1, 80.0, true)", "('acme', 'pro', 'voice_minutes', 600.0, 1000.0, 60.0, "
                       "'ok', date '2026-11-01', date '2026-11-30', true)")
    con.execute("""create table analytics.usage_forecast_daily as select 'acme' as tenant,
        'voice_minutes' as quota_name, d::date as usage_date, d > date '2026-11-20' as is_projected,
        20.0::double * (d::date - date '2026-11-01' + 1) as cumulative_usage, date '2026-11-20' as as_of_date,
        date '2026-11-30' as period_end, 550.0::double as projected_low, 650.0::double as projected_high
        from range(date '2026-11-01', date '2026-12-01', interval 1 day) as r(d)""")
    con.execute("create table analytics.usage_forecast as select 'acme' as tenant, 'voice_minutes' as quota_name,"
                " 1000.0::double as quota")
    html = report_html(con, datetime(2026, 11, 21, tzinfo=UTC), "data")
    assert "voice_minutes, cumulative, to 2026-11-30" in html and html.count("<polyline") == 2
    assert "Not loaded:" not in html


def test_an_unmeasured_interval_coverage_is_a_dash_not_a_dash_percent():
    import duckdb

    con = duckdb.connect()
    con.execute("create schema analytics; create schema seeds")
    con.execute("""create table analytics.forecast_accuracy as select * from (values
        ('all', '1-7', 1, 7, 30, 5.0, 6.0, null::double))
        t(quota_name, days_elapsed_bucket, days_from, days_to, forecasts, mape, naive_mape, interval_coverage)""")
    accuracy = report_html(con, datetime(2026, 11, 30, tzinfo=UTC), "data").split("Forecast accuracy", 1)[1]
    assert "- %" not in accuracy and "<td>-</td>" in accuracy and "<td>5.0 %</td>" in accuracy


@pytest.mark.parametrize("out", ["folder", "afile/r.html"], ids=["an existing folder", "below a file"])
def test_report_out_that_cannot_be_a_file_is_one_line_exit_2_and_leaves_no_temp_file(
        tmp_path, monkeypatch, capfd, out):
    """It was an IsADirectoryError (and a stray temp file) or a FileExistsError traceback."""
    import duckdb

    from aurion_pipeline.cli import main

    data = tmp_path / "data"
    data.mkdir()
    duckdb.connect(str(data / "analyst.duckdb")).close()  # an analyst copy with nothing built yet
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    for name in [n for n in os.environ if n.startswith(("AURION_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AURION_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["report", "--out", str(tmp_path / out)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the report to" in err[0]
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_usage_chart_has_actual_forecast_band_and_quota():
    d = TODAY
    chart = usage_path([(d, 10.0), (d + timedelta(days=1), 20.0)], [(d + timedelta(days=2), 35.0)],
                       (d + timedelta(days=1), 20.0, d + timedelta(days=2), 30.0, 40.0), 50.0, "voice")
    assert chart.count("<polyline") == 2 and "<polygon" in chart and "quota 50" in chart


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    with SandboxServer(tenants=DEFAULT_TENANTS) as api:  # only for the environment: the demo starts its own
        env = pipeline_env(api, root)
    outputs = []
    demo = ["demo", "--days", "100", "--data-dir", str(root)]  # into root/data, the environment's data directory
    for args in (demo, ["report", "--out", str(root / "out" / "report.html")]):
        result = subprocess.run([sys.executable, "-m", "aurion_pipeline.cli", *args], env=env, capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout)
    written = root / "data" / "report.html"
    assert written.exists() and str(written) in outputs[0], "the demo writes report.html and prints its path"
    return root / "out" / "report.html"


@pytest.mark.slow
def test_the_report_has_no_remote_source_and_a_section_per_tenant(report):
    html = report.read_text()
    assert not REMOTE_SOURCE.search(html) and not CSS_IMPORT.search(html) and "<script" not in html
    for tenant in DEFAULT_TENANTS:
        section = html.split(f"data-tenant='{tenant.name}'", 1)[1].split("</section>", 1)[0]
        assert section.count("<svg") >= 1, tenant.name
    assert "Forecast accuracy" in html


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed and `make browsers` could not install it (apt-get failed)")
    return found


def offline_chromium(*args: str) -> subprocess.CompletedProcess:
    """Headless Chromium with every network request sent to a dead proxy and every host unresolvable."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", *args]
    return subprocess.run(command, capture_output=True, timeout=180)


@pytest.mark.slow
def test_chromium_renders_every_tenant_chart_offline(report):
    dom = offline_chromium("--dump-dom", report.as_uri()).stdout.decode()
    for tenant in DEFAULT_TENANTS:
        section = dom.split(f'data-tenant="{tenant.name}"', 1)[1].split("</section>", 1)[0]
        assert '<svg class="chart"' in section and "<rect" in section, tenant.name
    assert dom.count("<polyline") >= 2  # usage paths drawn for the tenants with a forecast


@pytest.mark.slow
def test_the_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "report.png"
    offline_chromium(f"--screenshot={shot}", "--window-size=1280,1600", report.as_uri())
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (1280, 1600)
    gray = [sum(pixels[i:i + 3]) // 3 for i in range(0, len(pixels), 4 * 97)]  # a sample of pixels
    mean = sum(gray) / len(gray)
    variance = sum((g - mean) ** 2 for g in gray) / len(gray)
    assert variance > 100, f"screenshot looks blank (pixel variance {variance:.1f})"
    assert len({g // 16 for g in gray}) >= 6  # text, bars and lines: many shades, not one flat colour


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """A minimal decoder for Chromium's screenshots (8-bit RGB or RGBA, not interlaced), returning RGBA bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0
    channels = 3 if color == 2 else 4
    raw, stride, out, previous = zlib.decompress(idat), width * channels, bytearray(), bytearray(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        previous = line
        out += line if channels == 4 else b"".join(bytes(line[i:i + 3]) + b"\xff" for i in range(0, stride, 3))
    return width, height, bytes(out)


@pytest.mark.parametrize(
    "html, remote",
    [
        pytest.param("<script src='https://cdn.example.com/x.js'></script>", True, id="cdn script"),
        pytest.param('<link rel="stylesheet" href="http://cdn.example.com/x.css">', True, id="remote stylesheet"),
        pytest.param("<script src=//cdn.example.com/x.js></script>", True, id="protocol-relative"),
        pytest.param("<style>@import url(https://fonts.example.com/f.css)</style>", True, id="css import"),
        pytest.param("<style>body{color:#222}</style><svg class='chart'></svg>", False, id="inline only"),
    ],
)
def test_the_remote_source_check_catches_what_it_must(html, remote):
    assert bool(REMOTE_SOURCE.search(html) or CSS_IMPORT.search(html)) is remote


def test_key_figures_for_the_dagster_ui_are_a_markdown_table_of_the_current_period():
    import duckdb

    from aurion_pipeline.report.metadata import key_figures

    con = duckdb.connect()
    con.execute("create schema analytics")
    con.execute("""create table analytics.plan_utilization as select * from (values
        ('globex', 'voice_minutes', 2105.0, 1000.0, 210.5, 'overage', true),
        ('acme', 'voice_minutes', 493.0, 1000.0, 49.3, 'ok', true),
        ('acme', 'voice_minutes', 900.0, 1000.0, 90.0, 'warning', false))
        t(tenant, quota_name, used, quota, pct_used, alert_level, is_current)""")
    table = key_figures(con, "analytics.plan_utilization")["key_figures"].value
    lines = table.splitlines()
    assert lines[2].startswith("| tenant | quota | used | limit | pct_used | alert_level |")
    assert lines[4].startswith("| globex |") and lines[5].startswith("| acme |") and len(lines) == 6  # current only
    assert key_figures(con, "analytics.usage_daily") == {}
    assert key_figures(con, "analytics.usage_forecast") == {}  # not built yet: no figures, no failure
