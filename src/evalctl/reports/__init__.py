"""Reports are data: plain dataclasses with one JSON envelope (schemas/report.schema.json)."""

from evalctl.reports.model import STATUSES, Report, worst_status

__all__ = ["STATUSES", "Report", "worst_status"]
