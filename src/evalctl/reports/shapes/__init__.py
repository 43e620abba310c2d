"""Every result shape, and the one that each command's results have.

A handful of shapes serve every command: a feature verdict, a check row, a window point, a
segment metric, a segment comparison (long format), an rca finding and an inventory row. Each
declares every field and column once; a command's rows are a `Use` of one of them (which fields
they have, which columns their table shows). To give a command new rows: add a `Use` to the
shape of their kind (a new shape only for a new kind of row, listed in `SHAPES` below). To add
a field: one line in its shape's `fields` table (``name type? description``), its name in the
`Use`s that have it (and its key in their `columns` to show it), plus the property in the
command's `schemas/<command>.v2.json` (tests/test_shapes.py holds the two together,
descriptions included).
"""

from __future__ import annotations

from evalctl.reports.shape import ShapeError, View
from evalctl.reports.shapes.causes import Finding
from evalctl.reports.shapes.checks import CheckRow
from evalctl.reports.shapes.features import FeatureVerdict
from evalctl.reports.shapes.inventory import InventoryRow
from evalctl.reports.shapes.segments import SegmentComparison, SegmentMetric
from evalctl.reports.shapes.windows import WindowPoint

SHAPES = (FeatureVerdict, CheckRow, WindowPoint, SegmentMetric, SegmentComparison, Finding,
          InventoryRow)
_BY_RESULT: dict[tuple[str, str | None], View] = {
    result: shape.view(*result) for shape in SHAPES for result in shape.rows_of}
if len(_BY_RESULT) != sum(len(shape.rows_of) for shape in SHAPES):
    raise ShapeError("a (command, section) is claimed by two shapes")


def shape_for(command: str, section: str | None) -> View:
    """The shape (its view) of `command`'s results of `section` (None: its unsectioned results)."""
    shape = _BY_RESULT.get((command, section))
    if shape is None:
        raise ShapeError(f"no result shape is declared for {command!r} section {section!r} "
                         "(evalctl/reports/shapes)")
    return shape


def commands_with_shapes() -> set[str]:
    return {command for command, _ in _BY_RESULT}


__all__ = ["SHAPES", "commands_with_shapes", "shape_for"]
