"""Fitting a table to a width: which columns are shown, how wide, and which move or go.

Atoms (numbers, dates, statuses, names, ids) are never broken, so a column of atoms is as wide
as its widest cell. When the table does not fit, long free text moves below the table first
(nothing is lost), then the columns of the highest priority number are dropped (rightmost
first; an interval's two ends together) until it fits; a column that was moved comes back if
dropping made room for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len

from evalctl.render.cells import ATOM, DROPPED_TOGETHER, SPARK, TEXT, WORDS, Column

TEXT_MIN = 24  # narrowest useful column of free text (else it moves below the table)
TEXT_WORD_MAX = 40  # a longer "word" (a path, a URL) may fold inside a text column
HEADER_KEEP = 10  # an atom's header up to this long is not wrapped ("vs overall", "fail at")


@dataclass
class Layout:
    """The columns shown with their widths, the text columns moved below, the dropped ones."""

    shown: list[tuple[Column, int]] = field(default_factory=list)
    below: list[Column] = field(default_factory=list)
    dropped: list[Column] = field(default_factory=list)


def table_width(widths: list[int]) -> int:
    """Width of a boxed Rich table: one space either side of each cell, rules between and
    around the columns."""
    return sum(widths) + 3 * len(widths) + 1


def fit_columns(columns: list[Column], cells: dict[str, list[str]], width: int) -> Layout:
    """Lay out `columns` (with their rendered `cells`) in at most `width` characters."""
    need = {c.key: least_width(c, cells[c.key]) for c in columns}
    shown, below, dropped = list(columns), list[Column](), list[Column]()

    def fits(candidate: list[Column]) -> bool:
        return table_width([need[c.key] for c in candidate]) <= width

    while not fits(shown):
        victim = _victim(shown)
        if victim is None:
            break
        partners = next((keys for keys in DROPPED_TOGETHER if victim.key in keys), {victim.key})
        for column in [c for c in shown if c is victim or c.key in partners and c.priority]:
            shown.remove(column)
            (below if column.kind == TEXT else dropped).append(column)
    for column in sorted(below, key=lambda c: c.priority):
        candidate = [c for c in columns if c in shown or c is column]
        if fits(candidate):
            shown = candidate
            below.remove(column)
    widths = _spread(shown, cells, need, width)
    return Layout(list(zip(shown, widths, strict=True)), below, dropped)


def least_width(column: Column, cells: list[str]) -> int:
    """The narrowest a column may be: its widest atom (and its header when that is short),
    or its longest word; never narrower than the longest word of its header."""
    header = max(cell_len(w) for w in column.header.split() or [""])
    if column.kind in (ATOM, SPARK):
        short = cell_len(column.header) if cell_len(column.header) <= HEADER_KEEP else 0
        return max([header, short, *(cell_len(c) for c in cells)])
    longest = max([header, *(cell_len(w) for c in cells for w in c.split())])
    if column.kind == WORDS:
        return longest
    natural = max([cell_len(column.header), *(cell_len(c) for c in cells)])
    return min(natural, max(TEXT_MIN, min(longest, TEXT_WORD_MAX)))


def natural_width(column: Column, cells: list[str]) -> int:
    return max([cell_len(column.header), *(cell_len(c) for c in cells)])


def _victim(shown: list[Column]) -> Column | None:
    """Text moves below first (lowest priority first); then the lowest-priority column that
    may be dropped (priority > 0), the rightmost of its priority first."""
    ranked = [(c.kind != TEXT, -c.priority, -i) for i, c in enumerate(shown)
              if c.kind == TEXT or c.priority > 0]
    if not ranked:
        return None
    return shown[-min(ranked)[2]]


def _spread(shown: list[Column], cells: dict[str, list[str]], need: dict[str, int],
            width: int) -> list[int]:
    """Widths from the least ones; spare width goes to short wrapping cells (names such as
    "age < 28"), then to atoms whose header would wrap, then to free text: each up to its
    full length, the one missing the most first."""
    widths = [need[c.key] for c in shown]
    spare = width - table_width(widths)
    full = [natural_width(c, cells[c.key]) for c in shown]
    for kinds in ((WORDS,), (ATOM, SPARK), (TEXT,)):
        while spare > 0:
            short = [(full[i] - widths[i], -i) for i, c in enumerate(shown)
                     if c.kind in kinds and widths[i] < full[i]]
            if not short:
                break
            i = -max(short)[1]
            widths[i] += 1
            spare -= 1
    return widths
