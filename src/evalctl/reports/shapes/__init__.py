"""Every result shape, and the one that each command's results have.

To add a result row kind: declare a `Shape` in the module of its family (or reuse one: a shape
may serve several commands, as `BatchAction` serves `batches remove`, `gc` and `erase`), name
its (command, section) in `rows_of`, and list it in `SHAPES` below. To add a field: one
`F(...)` line in its shape (and a `C(...)` line to show it in tables), plus the property in
the command's `schemas/<command>.v2.json` (tests/test_shapes.py holds the two together).
"""

from __future__ import annotations

from evalctl.reports.shape import Shape, ShapeError
from evalctl.reports.shapes.causes import CauseFinding, MetricChange, OutputFinding, SegmentEffect
from evalctl.reports.shapes.features import (
    CheckHistory,
    CheckRow,
    DistributionVerdict,
    DriftVerdict,
    GaugeSample,
    MultivariateWindow,
    ReportPart,
    SchemaVerdict,
    TransformationVerdict,
)
from evalctl.reports.shapes.inventory import (
    BatchAction,
    BatchRecord,
    CatalogEntry,
    ExportedFile,
    IngestedBatch,
    ModelSettings,
    ProfileBuild,
    StoreCreated,
    StoredFile,
    StoreProblem,
)
from evalctl.reports.shapes.segments import (
    DiscoveredSegment,
    SegmentComparison,
    SegmentDelta,
    SegmentMetric,
)
from evalctl.reports.shapes.windows import EstimateUnavailable, ProxyTrend, WindowPoint

SHAPES: tuple[Shape, ...] = (
    StoreCreated, IngestedBatch, CatalogEntry, BatchRecord, BatchAction, StoredFile,
    StoreProblem, ModelSettings, ExportedFile, ProfileBuild,
    DistributionVerdict, TransformationVerdict, SchemaVerdict, DriftVerdict, MultivariateWindow,
    CheckRow, CheckHistory, GaugeSample, ReportPart,
    MetricChange, CauseFinding, SegmentEffect, OutputFinding,
    SegmentMetric, DiscoveredSegment, SegmentDelta, SegmentComparison,
    WindowPoint, ProxyTrend, EstimateUnavailable,
)
_BY_RESULT: dict[tuple[str, str | None], Shape] = {
    result: shape for shape in SHAPES for result in shape.rows_of}
if len(_BY_RESULT) != sum(len(shape.rows_of) for shape in SHAPES):
    raise ShapeError("a (command, section) is claimed by two shapes")


def shape_for(command: str, section: str | None) -> Shape:
    """The shape of `command`'s results of `section` (None: its unsectioned results)."""
    shape = _BY_RESULT.get((command, section))
    if shape is None:
        raise ShapeError(f"no result shape is declared for {command!r} section {section!r} "
                         "(evalctl/reports/shapes)")
    return shape


def commands_with_shapes() -> set[str]:
    return {command for command, _ in _BY_RESULT}


__all__ = ["SHAPES", "commands_with_shapes", "shape_for"]
