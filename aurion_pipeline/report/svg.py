"""Inline SVG charts, written by hand: the report must open offline from one file, and static SVG needs
no script, no CDN and no plotting dependency; it stays sharp at any zoom and its text is searchable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

LEVEL_COLORS = {"ok": "#2e7d32", "warning": "#f9a825", "critical": "#ef6c00", "overage": "#c62828"}
ACTUAL, FORECAST, BAND, QUOTA, NAIVE = "#1565c0", "#6a1b9a", "#ce93d8", "#c62828", "#9e9e9e"


def utilization_bars(rows: list[tuple[str, float | None, str, str]], thresholds: Sequence[float] = (),
                     width: int = 400) -> str:
    """One horizontal bar per quota: (label, pct_used, alert_level, caption), with a line at each alert
    threshold (seeds.alert_thresholds: 80, 95 and 100 % as shipped). Bars beyond 125 % are drawn to the
    edge and the caption gives the figure."""
    label_w, right, bar_h, gap, top = 120, 20, 20, 10, 22
    plot_w = width - label_w - right
    scale_max = 125.0
    height = top + len(rows) * (bar_h + gap) + 8
    x = lambda pct: label_w + plot_w * min(max(pct, 0.0), scale_max) / scale_max  # noqa: E731
    parts = [_svg_open(width, height, "utilization of each quota against its plan")]
    for i, (label, pct, level, caption) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(_text(label_w - 6, y + bar_h * 0.7, label, anchor="end"))
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eeeeee"/>')
        if pct is not None:
            color = LEVEL_COLORS.get(level, "#607d8b")
            parts.append(f'<rect x="{label_w}" y="{y}" width="{x(pct) - label_w:.1f}" height="{bar_h}" '
                         f'fill="{color}"/>')
        parts.append(_text(label_w + 4, y + bar_h * 0.7, caption, size=11, color="#000"))
    for i, pct in enumerate(thresholds):  # on top of the bars; the outer labels lean outwards, apart
        anchor = "end" if i == 0 < len(thresholds) - 1 else "start" if i == len(thresholds) - 1 > 0 else "middle"
        parts.append(_line(x(pct), top - 6, x(pct), height - 6, "#222", dash="4 3"))
        parts.append(_text(x(pct) + {"end": -2, "middle": 0, "start": 2}[anchor], top - 9, f"{pct:g}%", size=10,
                           anchor=anchor))
    return "".join(parts) + "</svg>"


def usage_path(
    actual: list[tuple[date, float]],
    projected: list[tuple[date, float]],
    band: tuple[date, float, date, float | None, float | None] | None,
    quota: float | None,
    title: str,
    width: int = 400,
    height: int = 220,
) -> str:
    """Cumulative usage of the period: loaded days (solid), the forecast path (dashed), its 80 %
    interval at the period's end as a fan from the last loaded day, and the quota line."""
    left, right, top, bottom = 64, 16, 24, 28
    days = [d for d, _ in actual + projected]
    if not days:
        return ""
    first, last = min(days), max(days)
    values = [v for _, v in actual + projected] + [v for v in (quota, *(band[3:] if band else ())) if v is not None]
    vmax = max(max(values) * 1.08, 1e-9)
    span = max((last - first).days, 1)
    px = lambda d: left + (width - left - right) * (d - first).days / span  # noqa: E731
    py = lambda v: top + (height - top - bottom) * (1 - v / vmax)  # noqa: E731
    parts = [_svg_open(width, height, title), _text(left, 15, title, size=12, weight="bold")]
    parts += _axes(left, right, top, bottom, width, height, vmax, first, last, py)
    if band and band[3] is not None and band[4] is not None:
        as_of, at, end, low, high = band
        points = f"{px(as_of):.1f},{py(at):.1f} {px(end):.1f},{py(high):.1f} {px(end):.1f},{py(low):.1f}"
        parts.append(f'<polygon points="{points}" fill="{BAND}" fill-opacity="0.45"><title>80 % interval of the '
                     f'period total: {low:,.0f} to {high:,.0f}</title></polygon>')
    if quota is not None:
        parts.append(_line(left, py(quota), width - right, py(quota), QUOTA, dash="6 3", stroke=1.5))
        parts.append(_text(width - right - 2, py(quota) - 4, f"quota {quota:,.0f}", size=10, anchor="end", color=QUOTA))
    if actual:
        parts.append(_polyline([(px(d), py(v)) for d, v in actual], ACTUAL, 2.2))
    if projected:
        joined = actual[-1:] + projected
        parts.append(_polyline([(px(d), py(v)) for d, v in joined], FORECAST, 2.0, dash="5 4"))
    return "".join(parts) + "</svg>"


def accuracy_bars(rows: list[tuple[str, float | None, float | None]], width: int = 560) -> str:
    """MAPE of the forecast next to the naive run-rate's, per bucket of days elapsed: (label, mape, naive)."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return ""
    left, top, bottom, height = 48, 24, 30, 200
    vmax = max(max(m or 0, n or 0) for _, m, n in rows) * 1.15 or 1.0
    group_w = (width - left - 10) / len(rows)
    py = lambda v: top + (height - top - bottom) * (1 - v / vmax)  # noqa: E731
    parts = [_svg_open(width, height, "forecast error against the naive run-rate")]
    parts.append(_text(left, 14, "MAPE %: forecast", size=11, color=ACTUAL))
    parts.append(_text(left + 110, 14, "naive run-rate", size=11, color=NAIVE))
    parts.append(_line(left, height - bottom, width - 10, height - bottom, "#333"))
    for i, (label, mape, naive) in enumerate(rows):
        x0 = left + i * group_w + group_w * 0.15
        bar_w = group_w * 0.33
        for j, (value, color) in enumerate(((mape, ACTUAL), (naive, NAIVE))):
            if value is not None:
                y = py(value)
                parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                             f'height="{height - bottom - y:.1f}" fill="{color}"><title>{value:.1f} %</title></rect>')
        parts.append(_text(x0 + bar_w, height - bottom + 14, label, size=10, anchor="middle"))
    return "".join(parts) + "</svg>"


def _axes(left, right, top, bottom, width, height, vmax, first: date, last: date, py) -> list[str]:
    parts = [_line(left, height - bottom, width - right, height - bottom, "#333"),
             _line(left, top, left, height - bottom, "#333")]
    for frac in (0.0, 0.5, 1.0):
        value = vmax * frac / 1.08
        parts.append(_text(left - 4, py(value) + 4, f"{value:,.0f}", size=10, anchor="end"))
    parts.append(_text(left, height - 8, first.isoformat(), size=10))
    parts.append(_text(width - right, height - 8, last.isoformat(), size=10, anchor="end"))
    return parts


def _svg_open(width: int, height: int, label: str) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">')


def _polyline(points: list[tuple[float, float]], color: str, stroke: float, dash: str | None = None) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="{stroke}"{dashed}/>'


def _line(x1, y1, x2, y2, color: str, dash: str | None = None, stroke: float = 1.0) -> str:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{stroke}"{dashed}/>')


def _text(x, y, content: str, *, size: int = 11, anchor: str = "start", color: str = "#333",
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}">{escape(content)}</text>')
