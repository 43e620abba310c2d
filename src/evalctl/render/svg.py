"""Small inline-SVG chart primitives for the HTML report: data in, an `<svg>` string out.

Hand-written SVG, no plotting library: every chart is a fixed-size `viewBox` that scales to
its container, carries a `<title>` (its accessible name) and draws with CSS classes (`ref`,
`cur`, `fail`, `warn`, `pass`, `axis`, ...) so the page's stylesheet gives it the light or the
dark theme. Status is never carried by colour alone: points take a shape by status (square
fail, triangle warn, circle pass) and every chart labels its threshold lines in words. All
text is escaped here; numbers are formatted with `render.cells.format_cell`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeGuard

from evalctl.render.cells import format_cell

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 40


@dataclass(frozen=True)
class Interval:
    """One row of a leaderboard or forest plot: a value, its interval, its status and,
    optionally, a second value drawn as a hollow mark (the baseline of a comparison)."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    status: str = "pass"
    other: float | None = None


@dataclass(frozen=True)
class Point:
    """One window of a series."""

    label: str
    value: float | None
    status: str = "pass"
    low: float | None = None
    high: float | None = None
    realized: float | None = None


def _svg(title: str, height: int, body: list[str], desc: str = "") -> str:
    text = escape(title)
    described = f"<desc>{escape(desc)}</desc>" if desc else ""
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
            f"<title>{text}</title>{described}" + "".join(body) + "</svg>")


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, cls: str = "lbl", anchor: str = "middle",
          rotate: bool = False) -> str:
    turn = f' transform="rotate(-35 {_num(x)} {_num(y)})"' if rotate else ""
    return (f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{turn}>'
            f"{escape(text)}</text>")


def _finite(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (_finite(low) and _finite(high)) or high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, tick = [], first
    while tick <= high + step * 1e-9:
        ticks.append(round(tick, 12))
        tick += step
    return ticks


class _Scale:
    """A linear map from data values to pixels."""

    def __init__(self, low: float, high: float, start: float, end: float) -> None:
        if high <= low:
            low, high = low - 0.5, high + 0.5
        self.low, self.high, self.start, self.end = low, high, start, end

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _bounds(values: Sequence[float | None], include: Sequence[float | None] = ()
            ) -> tuple[float, float]:
    finite = [float(v) for v in (*values, *include) if _finite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    pad = (high - low) * 0.06 or abs(high) * 0.1 or 1.0
    return low - pad if low < 0 or low - pad >= 0 else 0.0, high + pad


def _y_axis(scale: _Scale, height: int, fmt: str = "") -> list[str]:
    out = []
    for tick in nice_ticks(scale.low, scale.high):
        y = scale(tick)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y)}" '
                   f'y2="{_num(y)}"/>')
        label = f"{tick:.0%}" if fmt == "%" else format_cell(float(tick))
        out.append(_text(LEFT - 6, y + 4, label, "tick", "end"))
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{height - BOTTOM}"/>')
    return out


def _marker(x: float, y: float, status: str, hollow: bool = False) -> str:
    """A point whose shape says its status: square fail, triangle warn, circle otherwise."""
    cls = f"mark {status}" + (" hollow" if hollow else "")
    if status in ("fail", "error") and not hollow:
        return (f'<rect class="{cls}" x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" '
                f'height="8"/>')
    if status == "warn" and not hollow:
        return (f'<path class="{cls}" d="M{_num(x)} {_num(y - 5)}L{_num(x + 5)} {_num(y + 4)}'
                f'L{_num(x - 5)} {_num(y + 4)}Z"/>')
    return f'<circle class="{cls}" cx="{_num(x)}" cy="{_num(y)}" r="4"/>'


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    out, x = [], LEFT
    for cls, label in items:
        out.append(f'<rect class="{cls}" x="{x}" y="{_num(y - 9)}" width="12" height="10"/>')
        out.append(_text(x + 16, y, label, "lbl", "start"))
        x += 24 + 7 * len(label)
    return out


def histogram_overlay(title: str, labels: Sequence[str], reference: Sequence[int],
                      current: Sequence[int], desc: str = "") -> str:
    """Reference and current side by side in each bin, as shares of their own totals."""
    height = 220
    ref_total, cur_total = sum(reference) or 1, sum(current) or 1
    ref = [c / ref_total for c in reference]
    cur = [c / cur_total for c in current]
    top = max([*ref, *cur, 0.01]) * 1.08
    y = _Scale(0.0, top, height - BOTTOM, TOP + 12)
    body = _y_axis(y, height, "%")
    n = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / n
    bar = max(min(slot * 0.38, 28.0), 1.0)
    rotate = n > 8 or max((len(s) for s in labels), default=0) * 6 > slot
    for i, label in enumerate(labels):
        x0 = LEFT + i * slot + slot / 2
        for share, count, offset, cls, side in ((ref[i], reference[i], -bar, "ref", "reference"),
                                                (cur[i], current[i], 0.0, "cur", "current")):
            top_y = y(share)
            body.append(f'<rect class="{cls}" x="{_num(x0 + offset)}" y="{_num(top_y)}" '
                        f'width="{_num(bar)}" height="{_num(y(0.0) - top_y)}"><title>'
                        f"{escape(label)} · {side}: {count:,} ({share:.1%})</title></rect>")
        if rotate:
            body.append(_text(x0, height - BOTTOM + 14, _short(label), "tick", "end", True))
        else:
            body.append(_text(x0, height - BOTTOM + 14, _short(label), "tick"))
    body.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(y(0.0))}" '
                f'y2="{_num(y(0.0))}"/>')
    body += _legend([("ref", "reference"), ("cur", "current")], TOP + 4)
    return _svg(title, height, body, desc)


def _short(label: str, size: int = 14) -> str:
    return label if len(label) <= size else label[:size - 1] + "…"


def series_chart(title: str, points: Sequence[Point], *, warn: float | None = None,
                 fail: float | None = None, onset: int | None = None,
                 reference: float | None = None, desc: str = "") -> str:
    """A score per window with its warn and fail lines and the onset marked; an optional
    band (`low`/`high`) and a realised line (`realized`, hollow marks) for estimates."""
    height = 230
    values = [p.value for p in points]
    extra = [p.low for p in points] + [p.high for p in points] + [p.realized for p in points]
    low, high = _bounds(values, [*extra, warn, fail, reference])
    y = _Scale(low, high, height - BOTTOM, TOP)
    body = _y_axis(y, height)
    n = max(len(points), 1)
    step = (WIDTH - LEFT - RIGHT - 20) / max(n - 1, 1)

    def x(i: int) -> float:
        return LEFT + 10 + (i * step if n > 1 else (WIDTH - LEFT - RIGHT - 20) / 2)

    band = [(x(i), lo, hi) for i, (lo, hi) in enumerate((p.low, p.high) for p in points)
            if _finite(lo) and _finite(hi)]
    if band:
        upper = " ".join(f"{_num(bx)},{_num(y(hi))}" for bx, _, hi in band)
        lower = " ".join(f"{_num(bx)},{_num(y(lo))}" for bx, lo, _ in reversed(band))
        body.append(f'<polygon class="band" points="{upper} {lower}"/>')
    for value, cls, name in ((warn, "warn", "warn"), (fail, "fail", "fail"),
                             (reference, "refline", "reference")):
        if _finite(value):
            ly = y(value)
            body.append(f'<line class="limit {cls}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                        f'y1="{_num(ly)}" y2="{_num(ly)}"/>')
            body.append(_text(WIDTH - RIGHT - 2, ly - 3, f"{name} {format_cell(float(value))}",
                              f"lbl {cls}", "end"))
    if onset is not None and 0 <= onset < len(points):
        ox = x(onset)
        body.append(f'<line class="onset" x1="{_num(ox)}" x2="{_num(ox)}" y1="{TOP}" '
                    f'y2="{height - BOTTOM}"/>')
        right = ox > WIDTH * 0.65
        body.append(_text(ox - 3 if right else ox + 3, TOP + 10,
                          f"onset {points[onset].label}", "lbl onset",
                          "end" if right else "start"))
    body += _polyline([(x(i), p.realized) for i, p in enumerate(points)], y, "realized")
    body += _polyline([(x(i), p.value) for i, p in enumerate(points)], y, "line")
    for i, p in enumerate(points):
        if _finite(p.realized):
            body.append(_marker(x(i), y(p.realized), "pass", hollow=True))
        if _finite(p.value):
            body.append(f"<g>{_marker(x(i), y(p.value), p.status)}<title>{escape(p.label)}: "
                        f"{format_cell(float(p.value))} ({escape(p.status)})</title></g>")
    every = max(1, math.ceil(n / 8))
    for i, p in enumerate(points):
        if i % every == 0 or i == n - 1:
            body.append(_text(x(i), height - BOTTOM + 16, p.label, "tick"))
    return _svg(title, height, body, desc)


def _polyline(points: Sequence[tuple[float, float | None]], y: _Scale, cls: str) -> list[str]:
    """Connected runs of finite values (a gap where a window has none)."""
    runs: list[list[str]] = [[]]
    for px, value in points:
        if _finite(value):
            runs[-1].append(f"{_num(px)},{_num(y(value))}")
        elif runs[-1]:
            runs.append([])
    return [f'<polyline class="{cls}" points="{" ".join(run)}"/>' for run in runs
            if len(run) > 1]


def interval_chart(title: str, rows: Sequence[Interval], *, reference: float | None,
                   reference_label: str, other_label: str | None = None,
                   desc: str = "") -> str:
    """A leaderboard (or forest plot): one row per segment, its value with the interval's
    whisker, against a vertical reference line (the overall value, or 0 for differences)."""
    row_h = 22
    label_w = 200
    height = TOP + 24 + row_h * max(len(rows), 1) + 26
    values = [r.value for r in rows] + [r.low for r in rows] + [r.high for r in rows] + \
        [r.other for r in rows]
    low, high = _bounds(values, [reference])
    x = _Scale(low, high, label_w, WIDTH - RIGHT - 60)
    body: list[str] = []
    bottom = height - 26
    for tick in nice_ticks(low, high):
        tx = x(tick)
        body.append(f'<line class="grid" x1="{_num(tx)}" x2="{_num(tx)}" y1="{TOP + 18}" '
                    f'y2="{bottom}"/>')
        body.append(_text(tx, bottom + 14, format_cell(float(tick)), "tick"))
    if _finite(reference):
        rx = x(reference)
        body.append(f'<line class="refline" x1="{_num(rx)}" x2="{_num(rx)}" y1="{TOP + 12}" '
                    f'y2="{bottom}"/>')
        body.append(_text(rx, TOP + 8, f"{reference_label} {format_cell(float(reference))}",
                          "lbl refline"))
    for i, r in enumerate(rows):
        cy = TOP + 24 + i * row_h + row_h / 2
        body.append(_text(label_w - 8, cy + 4, _short(r.label, 30), "lbl", "end"))
        if _finite(r.low) and _finite(r.high):
            body.append(f'<line class="whisker {r.status}" x1="{_num(x(r.low))}" '
                        f'x2="{_num(x(r.high))}" y1="{_num(cy)}" y2="{_num(cy)}"/>')
        if _finite(r.other):
            body.append(_marker(x(r.other), cy, "pass", hollow=True))
        if _finite(r.value):
            interval = (f" [{format_cell(float(r.low))}, {format_cell(float(r.high))}]"
                        if _finite(r.low) and _finite(r.high) else "")
            body.append(f"<g>{_marker(x(r.value), cy, r.status)}<title>{escape(r.label)}: "
                        f"{format_cell(float(r.value))}{interval} ({escape(r.status)})"
                        "</title></g>")
            body.append(_text(WIDTH - RIGHT, cy + 4, f"{format_cell(float(r.value))} "
                              f"{r.status}", f"lbl {r.status}", "end"))
    if other_label:
        body.append(_marker(label_w, height - 6, "pass", hollow=True))
        body.append(_text(label_w + 8, height - 2, other_label, "lbl", "start"))
    return _svg(title, height, body, desc)


def waterfall(title: str, start: tuple[str, float], steps: Sequence[tuple[str, float]],
              end: tuple[str, float], desc: str = "") -> str:
    """From a starting value through signed steps to the end value (the steps' sum)."""
    height = 230
    levels = [start[1]]
    for _, delta in steps:
        levels.append(levels[-1] + delta)
    low, high = _bounds([*levels, end[1]])
    y = _Scale(low, high, height - BOTTOM, TOP + 8)
    body = _y_axis(y, height)
    bars = [(start[0], 0.0, start[1], "total")]
    running = start[1]
    for label, delta in steps:
        bars.append((label, running, running + delta, "up" if delta >= 0 else "down"))
        running += delta
    bars.append((end[0], 0.0, end[1], "total"))
    slot = (WIDTH - LEFT - RIGHT) / len(bars)
    for i, (label, a, b, cls) in enumerate(bars):
        if cls == "total":
            a = y.low
        top_y, bottom_y = min(y(a), y(b)), max(y(a), y(b))
        bx = LEFT + i * slot + slot * 0.2
        value = b if cls == "total" else b - a
        shown = format_cell(float(value)) if cls == "total" else f"{value:+.4g}"
        body.append(f'<rect class="wf {cls}" x="{_num(bx)}" y="{_num(top_y)}" '
                    f'width="{_num(slot * 0.6)}" height="{_num(max(bottom_y - top_y, 1))}">'
                    f"<title>{escape(label)}: {shown}</title></rect>")
        body.append(_text(bx + slot * 0.3, top_y - 4, shown, "lbl"))
        body.append(_text(bx + slot * 0.3, height - BOTTOM + 16, label, "tick"))
    return _svg(title, height, body, desc)


def timeline(title: str, windows: Sequence[str],
             rows: Sequence[tuple[str, Sequence[str | None]]], desc: str = "") -> str:
    """A grid of check × window; each cell's colour and letter (F, W, ✓, E, ?) say its
    status; an empty cell means the check did not run in that window."""
    label_w, row_h = 220, 20
    cols = max(len(windows), 1)
    cell = max(min((WIDTH - label_w - RIGHT) / cols, 40.0), 4.0)
    height = TOP + 10 + row_h * max(len(rows), 1) + 30
    letters = {"fail": "F", "warn": "W", "pass": "✓", "error": "E", "insufficient": "?"}
    body: list[str] = []
    for i, (label, statuses) in enumerate(rows):
        cy = TOP + 10 + i * row_h
        body.append(_text(label_w - 8, cy + 14, _short(label, 34), "lbl", "end"))
        for j, status in enumerate(statuses):
            if status is None:
                continue
            cx = label_w + j * cell
            body.append(f'<rect class="cell {escape(status)}" x="{_num(cx + 1)}" '
                        f'y="{_num(cy + 1)}" width="{_num(cell - 2)}" height="{row_h - 2}">'
                        f"<title>{escape(label)} · {escape(windows[j])}: {escape(status)}"
                        "</title></rect>")
            if cell >= 12:
                body.append(_text(cx + cell / 2, cy + 14, letters.get(status, "·"),
                                  "cell-text"))
    every = max(1, math.ceil(cols / 6))
    for j, window in enumerate(windows):
        if j % every == 0 or j == cols - 1:
            body.append(_text(label_w + j * cell + cell / 2, height - 12, window, "tick"))
    return _svg(title, height, body, desc)
