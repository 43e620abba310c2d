"""Profiles: every committed data file's summaries on the model's frozen monitoring reference,
computed once (at ingest or by `evalctl profiles build`) and merged to answer skew, drift and
monitor without rescanning rows (README: "Profiles").

- `reference`: fit, hash, freeze and store the monitoring reference.
- `format`: the versioned profile table, and merging profiles into summaries.
- `compute`: profile data files (one scan each).
- `parts`: a selection file by file, which bounds the scan path's memory.
- `evalctl.lake.profiled`: which profile belongs to which committed file (commit records).
- `source`: profiles or scan for a report, and why.
- `build`: `evalctl profiles build`.
"""
