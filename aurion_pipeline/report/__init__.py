"""`report.html`: one self-contained HTML file (inline CSS and SVG, no script, no network) showing where
every tenant stands; written by `aurion-pipeline report` and refreshed after every load."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from aurion_pipeline.config import ConfigError, Settings
from aurion_pipeline.report.build import report_html
from aurion_pipeline.storage import Warehouse, errors
from aurion_pipeline.text import first_line

REPORT_FILE = "report.html"
logger = logging.getLogger("aurion_pipeline.report")


def default_path(settings: Settings) -> Path:
    return settings.data_dir / REPORT_FILE


def write_report(settings: Settings, out: Path | None = None) -> Path:
    """Write the report from the analyst copy to `out` (default `$AURION_DATA_DIR/report.html`), atomically:
    a browser or a web server reading it never sees half a file."""
    target = _target(out or default_path(settings))
    warehouse = Warehouse.of(settings)
    con = warehouse.analyst_connection()
    try:
        html = report_html(con, datetime.now(UTC), str(settings.data_dir))
    finally:
        con.close()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a read-only file system refuses even this unlink
            tmp.unlink(missing_ok=True)
        # The disk's answer (full: exit 1; read-only or no permission: exit 2, as for the data directory),
        # in the storage layer's words; a full disk is not bad input.
        raise errors.os_failure(target, exc, "writing the report",
                                writable_fix="choose --out in a folder you can write") from None
    return target


def _target(path: Path) -> Path:
    """The report's file, refused before any work when it names a folder or lies below a file."""
    target = path.expanduser().resolve()
    if target.is_dir():
        raise ConfigError(f"cannot write the report to {target}: it is a folder; name a file, "
                          f"such as {target / REPORT_FILE}")
    blocker = next((p for p in target.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(f"cannot write the report to {target}: {blocker} is a file, not a folder")
    return target


def refresh_report(settings: Settings) -> Path | None:
    """After a load: rewrite the default report; a failure is logged, never fails the load."""
    try:
        return write_report(settings)
    except Exception as exc:  # the report is a by-product of a load that already succeeded
        logger.warning("report.html not refreshed: %s", first_line(exc))
        return None
