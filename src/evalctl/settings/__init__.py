"""Settings: the YAML config parsed once, at load, into frozen dataclasses.

- `sections`: the typed settings of every check (`model.settings.skew`, `.drift`, `.slices`,
  `.validate`, `.compare`, `.rca`, `.estimate`, `.monitor`), each default declared once, and
  `with_options`, the one way command-line options override them;
- `values`: the shared readers (a section's keys, numbers in a range, windows);
- `drift`, `checks`: the parsers of the `checks:` sections, cross-field rules included
  (warn before fail, windows), every error naming its key path;
- `load`: `load_config` / `parse_config`, the file to a `Config`.

This `__init__` imports nothing: `evalctl.config` (a leaf every layer imports) reads the
section types from here, while `load` imports the registries the parsers check names against
(metrics, measures, selectors), which themselves import `evalctl.config`.
"""
