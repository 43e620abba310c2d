"""Automatic slice discovery: where does the model err most? (SliceLine, SIGMOD 2021).

`discover_slices` is the entry point; see `evalctl.slicing.discover`.
"""

from evalctl.slicing.discover import default_min_support, discover_slices
from evalctl.slicing.encoding import FeatureCoding
from evalctl.slicing.lattice import LevelCounts
from evalctl.slicing.predicates import Predicate, parse_slice_id, slice_expr, slice_id
from evalctl.slicing.result import Slice, SliceDiscovery

__all__ = [
    "FeatureCoding",
    "LevelCounts",
    "Predicate",
    "Slice",
    "SliceDiscovery",
    "default_min_support",
    "discover_slices",
    "parse_slice_id",
    "slice_expr",
    "slice_id",
]
