"""The lake: layout, ledger, ingest, selections and scans. Only this package touches paths."""

from evalctl.lake.selectors import ENVS, Selector, parse_selector
from evalctl.lake.store import Selection, Store

__all__ = ["ENVS", "Selection", "Selector", "Store", "parse_selector"]
