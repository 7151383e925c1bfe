"""`report.html`: one self-contained HTML file (inline CSS and SVG, no script, no network) showing where
every tenant stands; written by `aurion-pipeline report` and refreshed after every load."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from aurion_pipeline.config import Settings
from aurion_pipeline.report.build import report_html
from aurion_pipeline.storage import Warehouse
from aurion_pipeline.text import first_line

REPORT_FILE = "report.html"
logger = logging.getLogger("aurion_pipeline.report")


def default_path(settings: Settings) -> Path:
    return settings.data_dir / REPORT_FILE


def write_report(settings: Settings, out: Path | None = None) -> Path:
    """Write the report from the analyst copy to `out` (default `$AURION_DATA_DIR/report.html`), atomically:
    a browser or a web server reading it never sees half a file."""
    warehouse = Warehouse.of(settings)
    con = warehouse.analyst_connection()
    try:
        html = report_html(con, datetime.now(UTC), str(settings.data_dir))
    finally:
        con.close()
    target = (out or default_path(settings)).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def refresh_report(settings: Settings) -> Path | None:
    """After a load: rewrite the default report; a failure is logged, never fails the load."""
    try:
        return write_report(settings)
    except Exception as exc:  # the report is a by-product of a load that already succeeded
        logger.warning("report.html not refreshed: %s", first_line(exc))
        return None
