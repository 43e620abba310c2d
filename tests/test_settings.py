"""The settings package: every check's settings parsed once at load into `model.settings`,
cross-field rules (warn before fail, windows, proxy bounds) refused at load with the key path,
one way to override them (`with_options`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from tests.helpers import CONFIG, make_frame, store_snapshot

import evalctl.settings.checks as checks_module
import evalctl.settings.drift as drift_module
from evalctl import api
from evalctl.errors import ConfigError, InputError
from evalctl.lake import Store, parse_selector
from evalctl.settings.load import load_config, parse_config
from evalctl.settings.sections import (
    DriftSettings,
    FeatureRule,
    ModelSettings,
    ProxyRule,
    SlicesSettings,
    with_options,
)
from evalctl.settings.values import window_length


def _model(checks: str):
    text = CONFIG + "    checks:\n" + "".join(f"      {line}\n" for line in checks.splitlines())
    return parse_config(yaml.safe_load(text), base_dir=Path("/base")).model("churn")


def test_settings_are_parsed_once_at_load_onto_the_model() -> None:
    model = _model("skew: {numeric: wasserstein, features: {age: {warn: 0.2, fail: 0.4}}}\n"
                   "drift: {window: 6h, min_rows: 20}\n"
                   "slices: {min_size: 50, error: squared}\n"
                   "monitor: {volume_warn: 0.3, volume_fail: 0.6, proxies: {clicked: {min: 0.1}}}\n"
                   "estimate: {window: 2d, proxies: {clicked: {max: 0.9}}}\n"
                   "rca: {top: 3}\n"
                   "compare: {n_boot: 200}")
    s = model.settings
    assert s.skew.numeric == "wasserstein" and s.skew.rule("age") == FeatureRule(warn=0.2, fail=0.4)
    assert s.skew.rule("country") == FeatureRule()
    assert (s.drift.window, s.drift.min_rows, s.drift.numeric) == ("6h", 20, None)
    assert s.slices == SlicesSettings(min_size=50, error="squared")
    assert (s.monitor.volume_warn, s.monitor.volume_fail) == (0.3, 0.6)
    assert s.monitor.proxies == {"clicked": ProxyRule(minimum=0.1)}
    assert s.estimate.window == "2d" and s.estimate.proxies == {"clicked": ProxyRule(None, 0.9)}
    assert s.rca.top == 3 and s.rca.min_labels == 100 and s.compare.n_boot == 200
    assert s.validate == ModelSettings().validate  # absent: the dataclass defaults


def test_a_model_without_checks_has_the_declared_defaults() -> None:
    model = parse_config(yaml.safe_load(CONFIG), base_dir=Path("/base")).model("churn")
    assert model.settings == ModelSettings()
    assert model.settings.drift == DriftSettings() and model.settings.drift.window == "1d"


@pytest.mark.parametrize(("checks", "message"), [
    # higher is worse (wasserstein, the numeric default): warn must not exceed fail
    ("skew: {features: {age: {warn: 0.3, fail: 0.2}}}",
     "models.churn.checks.skew.features.age: wasserstein: warn (0.3) must be at most fail (0.2)"),
    ("drift: {features: {age: {method: ks, warn: 0.3, fail: 0.2}}}",
     "models.churn.checks.drift.features.age: ks: warn (0.3) must be at most fail (0.2)"),
    # a p-value (chi_square): lower is worse, so warn must not be below fail
    ("skew: {features: {country: {method: chi_square, warn: 0.01, fail: 0.05}}}",
     "models.churn.checks.skew.features.country: chi_square: warn (0.01) must be at least "
     "fail (0.05)"),
    # the section's default method of the column's kind decides the direction
    ("skew: {categorical: chi_square, features: {country: {warn: 0.01, fail: 0.05}}}",
     "models.churn.checks.skew.features.country: chi_square: warn (0.01) must be at least"),
    # one threshold given: checked against the measure's default for the other
    ("skew: {features: {age: {warn: 0.5}}}",
     "models.churn.checks.skew.features.age: wasserstein: warn (0.5) must be at most fail "
     "(0.2) (the fail default of wasserstein)"),
    ("monitor: {volume_warn: 0.9, volume_fail: 0.8}",
     "models.churn.checks.monitor.volume_warn: 0.9 must be below volume_fail (0.8)"),
    ("monitor: {volume_warn: 0.9}",
     "models.churn.checks.monitor.volume_warn: 0.9 must be below volume_fail (0.8)"),
    ("estimate: {warn_drop: 0.1, fail_drop: 0.05}",
     "models.churn.checks.estimate.warn_drop: 0.1 must be at most fail_drop (0.05)"),
    ("estimate: {proxies: {clicked: {min: 0.9, max: 0.1}}}",
     "models.churn.checks.estimate.proxies.clicked.min: 0.9 must be at most max (0.1)"),
    ("monitor: {proxies: {clicked: {min: 0.9, max: 0.1}}}",
     "models.churn.checks.monitor.proxies.clicked.min: 0.9 must be at most max (0.1)"),
    ("estimate: {proxies: {nosuch: {min: 0.1}}}",
     "models.churn.checks.estimate.proxies.nosuch: not a proxy of this model"),
    # one window rule for drift, skew and estimate (estimate used to accept 0d at load)
    ("estimate: {window: 0d}",
     "models.churn.checks.estimate.window: expected e.g. 1h, 1d or 7d, got '0d'"),
    ("estimate: {window: 3m}",
     "models.churn.checks.estimate.window: expected e.g. 1h, 1d or 7d, got '3m'"),
    ("drift: {window: 99999999w}",
     "models.churn.checks.drift.window: '99999999w' is longer than 100 years"),
    ("skew: {window: 1}",
     "models.churn.checks.skew.window: expected e.g. 1h, 1d or 7d, got 1"),
])
def test_cross_field_rules_fail_at_load_with_the_key_path(checks: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _model(checks)
    assert message in str(caught.value)


@pytest.mark.parametrize("checks", [
    "skew: {features: {age: {warn: 0.2, fail: 0.2}}}",  # equal is allowed (as at run time)
    "skew: {features: {country: {method: chi_square, warn: 0.05, fail: 0.01}}}",
    "skew: {features: {age: {fail: 0.5}}}",  # wasserstein's default warn 0.1 is below
    "monitor: {volume_warn: 0.1}",
    "estimate: {warn_drop: 0.05, fail_drop: 0.05, window: 12h}",
])
def test_consistent_thresholds_load(checks: str) -> None:
    _model(checks)


def test_auto_kinds_leave_the_default_method_to_run_time() -> None:
    """A plain feature list has no kinds before the first ingest: without a method the
    direction is unknown at load, so only a named method's order is checked."""
    text = CONFIG.replace("    features:\n      age: numeric\n      country: categorical\n"
                          "      minutes: numeric\n", "    features: [age, country, minutes]\n")
    text = text.replace("    slices:\n      - feature: age\n        bins: [0, 25, 40, 120]\n"
                        "      - feature: country\n", "")
    loaded = parse_config(yaml.safe_load(
        text + "    checks: {skew: {features: {age: {warn: 0.3, fail: 0.2}}}}\n"),
        base_dir=Path("/base")).model("churn")
    assert loaded.settings.skew.rule("age").warn == 0.3
    with pytest.raises(ConfigError, match="ks: warn"):
        parse_config(yaml.safe_load(
            text + "    checks: {skew: {features: {age: {method: ks, warn: 0.3, fail: 0.2}}}}\n"),
            base_dir=Path("/base"))


def test_with_options_overrides_only_what_was_given() -> None:
    base = DriftSettings(window="6h", min_rows=20)
    assert with_options(base) == base
    assert with_options(base, min_rows=None, window=None) == base
    assert with_options(base, min_rows=5) == replace(base, min_rows=5)
    assert with_options(base, min_rows=0).min_rows == 0  # falsy but given


def test_window_length_is_one_rule_for_config_and_command_line() -> None:
    assert window_length("6h") == timedelta(hours=6)
    assert window_length("2w", "k.window") == timedelta(weeks=2)
    with pytest.raises(InputError, match=r"^--window: expected e.g. 1h") as caught:
        window_length("0d")
    assert not isinstance(caught.value, ConfigError)
    with pytest.raises(ConfigError, match=r"^k.window: expected"):
        window_length("1" * 5000 + "d", "k.window")


def test_a_bad_threshold_order_is_exit_2_at_load_naming_the_key(cli, workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text(
        CONFIG + "    checks: {drift: {features: {age: {warn: 0.3, fail: 0.2}}}}\n")
    before = store_snapshot(workdir / "store")
    result = cli("skew", "--model", "churn", "--reference", "training",
                 "--current", "production")
    assert result.code == 2
    assert "models.churn.checks.drift.features.age: wasserstein: warn (0.3) must be at most fail " \
           "(0.2)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_snapshot(workdir / "store") == before


def test_commands_use_the_settings_parsed_at_load(cli, frame_file, workdir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing parses `checks:` after load: with every parser broken once the config is
    loaded, skew and drift still run, and they follow `model.settings` (a replaced setting
    shows in the report)."""
    for path in (frame_file(make_frame(300, seed=1), "train.parquet"),
                 frame_file(make_frame(300, seed=2, days=3), "prod.parquet")):
        env = "training" if "train" in path.name else "production"
        assert cli("ingest", path, "--model", "churn", "--version", "v1", "--env", env).code == 0
    model = load_config(workdir / "evalctl.yaml").model("churn")

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("settings parsed after load")

    for module in (checks_module, drift_module):
        for name in dir(module):
            if name.startswith("parse_"):
                monkeypatch.setattr(module, name, broken)
    store = Store.open(workdir / "store")
    settings = replace(model.settings, drift=DriftSettings(min_rows=7, window="2d"))
    report = api.drift(store, replace(model, settings=settings), parse_selector("training"),
                       parse_selector("production"))
    assert report.inputs["window"] == "2d" and report.inputs["min_rows"] == 7
    overridden = api.drift(store, replace(model, settings=settings),
                           parse_selector("training"), parse_selector("production"), min_rows=3)
    assert overridden.inputs["min_rows"] == 3
    ignored = replace(model.settings, skew=DriftSettings(features={"age": FeatureRule(
        ignore=True)}))
    skew = api.skew(store, replace(model, settings=ignored), parse_selector("training"),
                    parse_selector("production"))
    assert "age" not in {r["feature"] for r in skew.results}
