"""Config validation: every error names the key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tests.helpers import CONFIG

from evalctl.errors import ConfigError
from evalctl.settings.load import load_config, parse_config


def _parse(text: str):
    return parse_config(yaml.safe_load(text), base_dir=Path("/base"))


def test_sample_config_parses() -> None:
    config = load_config(Path(__file__).parents[1] / "configs" / "evalctl.yaml")
    model = config.model("tv-recommender")
    assert model.features["age"] == "numeric"
    assert model.slices[0].bins == (0.0, 25.0, 40.0, 65.0, 120.0)
    assert config.store is not None and config.store.name == "demo_store"


def test_store_is_relative_to_the_config_file() -> None:
    assert _parse(CONFIG).store == Path("/base/store")


@pytest.mark.parametrize(("text", "message"), [
    (CONFIG.replace("age: numeric", "age: number"),
     "models.churn.features.age: expected numeric or categorical, got 'number'"),
    (CONFIG.replace("    proxies:", "    colour: red\n    proxies:"),
     "models.churn.colour: unknown key"),
    (CONFIG.replace("task: binary_classification", "task: clustering"),
     "models.churn.task: expected one of"),
    (CONFIG.replace("    id: request_id\n", ""), "models.churn.id: required key is missing"),
    (CONFIG.replace("bins: [0, 25, 40, 120]", "bins: [40, 25]"),
     "models.churn.slices[0].bins: expected at least two increasing numbers"),
    (CONFIG.replace("- feature: country", "- feature: planet"),
     "models.churn.slices[1].feature: 'planet' is not a declared feature"),
    ("stor: x\n", "stor: unknown key"),
    (CONFIG.replace("proxies: [clicked]", "proxies: clicked"),
     "models.churn.proxies: expected a list"),
    (CONFIG.replace("      - feature: country\n", "      - features: [age, country]\n"
                    "        quantiles: 4\n"),
     "models.churn.slices[1]: bins and quantiles apply to one feature"),
    (CONFIG + "    checks: {drift: {window: 0d}}\n",
     "models.churn.checks.drift.window: expected e.g. 1h, 1d or 7d, got '0d'"),
    (CONFIG + "    checks: {skew: {features: {age: {method: chi_square}}}}\n",
     "models.churn.checks.skew.features.age.method: 'chi_square' is not a numeric method"),
    (CONFIG + "    checks: {drift: {features: {country: {method: ks}}}}\n",
     "models.churn.checks.drift.features.country.method: 'ks' is not a categorical method"),
    (CONFIG + "    checks: {skew: {features: {age: {method: nosuch}}}}\n",
     "models.churn.checks.skew.features.age.method: unknown method 'nosuch'"),
    (CONFIG + "    checks: {validate: {metrics: [rmse]}}\n",
     "models.churn.checks.validate.metrics: 'rmse' is not a binary_classification metric"),
    (CONFIG + "    checks: {validate: {min: {acuracy: 0.8}}}\n",
     "models.churn.checks.validate.min: 'acuracy' is not a binary_classification metric"),
    (CONFIG + "    checks: {validate: {max_drop: {default: -0.1}}}\n",
     "models.churn.checks.validate.max_drop.default: -0.1 is out of range"),
    (CONFIG + "    checks: {compare: {metric: rmse}}\n",
     "models.churn.checks.compare.metric: 'rmse' is not a binary_classification metric"),
    (CONFIG + "    checks: {slices: {metric: acc}}\n",
     "models.churn.checks.slices.metric: 'acc' is not a binary_classification metric"),
    (CONFIG + "    checks: {slices: {error: hinge}}\n",
     "models.churn.checks.slices.error: expected one of misclassification, squared, log_loss"),
    (CONFIG + "    checks: {monitor: {reference: 'train'}}\n",
     "models.churn.checks.monitor.reference: selector 'train': unknown env 'train'"),
    (CONFIG.replace("minutes: numeric", "_env: categorical"),  # the scan's own column
     "models.churn.features._env: column '_env': names starting with '_' are reserved"),
    (CONFIG.replace("id: request_id", "id: _id"),
     "models.churn.id: column '_id': names starting with '_' are reserved"),
    (CONFIG.replace("  churn:", '  "churn/v2":'),  # was a nested partition folder
     "models.churn/v2: 'churn/v2' is not a valid model name"),
    (CONFIG.replace("  churn:", '  "a=b":'), "models.a=b: 'a=b' is not a valid model name"),
    (CONFIG.replace("  churn:", '  "c*":'), "models.c*: 'c*' is not a valid model name: "
     "contains '*'"),
    (CONFIG.replace("  churn:", '  "ch\\u200burn":'), "is not a valid model name: contains "
     "the invisible or space character U+200B"),
    (CONFIG + "    timestamp_unit: minutes\n",
     "models.churn.timestamp_unit: expected one of s, ms, us"),
    (CONFIG + "    timestamp_format: 12\n",
     "models.churn.timestamp_format: expected a strftime format"),
    (CONFIG + "    timestamp_format: '%d/%m/%Y'\n    timestamp_unit: s\n",
     "models.churn.timestamp_unit: give timestamp_format (text) or timestamp_unit"),
    (CONFIG + "    timestamp_years: [2100, 1970]\n",
     "models.churn.timestamp_years: expected [first, last] years between 1000 and 9999"),
    (CONFIG + "    timestamp_years: 2000\n", "models.churn.timestamp_years: expected"),
    (CONFIG + "    score_scale: logit\n",
     "models.churn.score_scale: expected one of probability, unbounded, got 'logit'"),
    (CONFIG + "    negative_label: legit\n", "models.churn.negative_label: give positive_label"),
    (CONFIG + "    positive_label: [fraud]\n",
     "models.churn.positive_label: expected a label value"),
    (CONFIG + "    positive_label: x\n    negative_label: x\n",
     "models.churn.negative_label: same as positive_label"),
    (CONFIG + "    null_values: NA\n", "models.churn.null_values: expected a list of strings"),
    (CONFIG + "    null_values: ['', null]\n",
     "models.churn.null_values: expected a list of strings"),
    (CONFIG + "    positive_label: NA\n", "models.churn.null_values: contains a label value"),
    (CONFIG + "    actuals: {time: t}\n", "models.churn.actuals.time: unknown key"),
    (CONFIG + "    actuals: {timestamp: 3}\n",
     "models.churn.actuals.timestamp: expected a column name"),
    (CONFIG + "    actuals: label_time\n", "models.churn.actuals: expected a mapping"),
    (CONFIG + "    threshold: .inf\n", "models.churn.threshold: expected a finite number"),
    (CONFIG + "    checks: {skew: {features: {age: {warn: .nan}}}}\n",
     "models.churn.checks.skew.features.age.warn: expected a finite number, got nan"),
    (CONFIG + "    checks: {validate: {min: {roc_auc: .nan}}}\n",
     "models.churn.checks.validate.min.roc_auc: expected a finite number"),
    (CONFIG + "    checks: {estimate: {confidence: .nan}}\n",
     "models.churn.checks.estimate.confidence: expected a finite number"),
    (CONFIG + "    checks: {drift: {k: -.inf}}\n",
     "models.churn.checks.drift.k: expected a finite number, got -inf"),
    (CONFIG + "    threshold: -0.1\n", "models.churn.threshold: -0.1 is outside [0, 1]"),
])
def test_bad_config_names_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _parse(text)


def test_feature_list_form_is_accepted() -> None:
    text = CONFIG.replace("""      age: numeric
      country: categorical
      minutes: numeric""", "      - age\n      - country\n      - minutes").replace(
        "    slices:\n      - feature: age\n        bins: [0, 25, 40, 120]\n"
        "      - feature: country\n", "")
    model = _parse(text).model("churn")
    assert list(model.features) == ["age", "country", "minutes"]


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope' .*churn"):
        _parse(CONFIG).model("nope")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(path)


def test_one_column_cannot_have_two_roles() -> None:
    with pytest.raises(ConfigError, match="models.churn.score: column 'score' is already"):
        _parse(CONFIG.replace("prediction: predicted_label", "prediction: score"))


def test_reading_keys_have_documented_defaults() -> None:
    from evalctl.config import NULL_VALUES

    model = _parse(CONFIG).model("churn")
    assert model.score_scale == "probability" and model.timestamp_years == (1970, 2100)
    assert model.null_values == NULL_VALUES == ("", "NA", "N/A", "null", "NULL", "None")
    assert (model.timestamp_format, model.timestamp_unit, model.positive_label,
            model.actuals_timestamp) == (None, None, None, None)
    regression = CONFIG.replace("task: binary_classification", "task: regression").replace(
        "prediction: predicted_label", "prediction: minutes_pred").replace(
        "    label: label\n", "")
    assert _parse(regression).model("churn").score_scale == "unbounded"


def test_unbounded_scores_take_any_finite_threshold() -> None:
    model = _parse(CONFIG + "    score_scale: unbounded\n    threshold: -2.5\n").model("churn")
    assert model.threshold == -2.5


def test_positive_label_needs_a_binary_task() -> None:
    text = CONFIG.replace("task: binary_classification", "task: multiclass_classification")
    with pytest.raises(ConfigError, match="models.churn.positive_label: applies to "
                       "binary_classification only"):
        _parse(text + "    positive_label: fraud\n")


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\nb: 2\na: 3\n", "line 3: duplicate key 'a'"),
    ("m:\n  x:\n    k: 1\n    k: 1\n", "line 4: duplicate key 'k'"),
    ("a: &a [*a]\n", "aliases expand the document"),
    ("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
        for p, n in zip("abcd", "bcde", strict=True)),
     "aliases expand the document to more than 100,000 values"),
])
def test_yaml_is_read_strictly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"c.yaml: {message}"):
        load_config(path)


def test_yaml_anchors_and_merge_keys_still_work() -> None:
    from evalctl.config_yaml import read_yaml

    doc = read_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: [*b, *b]\n")
    assert doc["use"] == {"x": 1, "y": 3} and doc["list"] == [{"x": 1, "y": 2}] * 2


def test_non_utf8_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("store: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin.yaml: not UTF-8 text"):
        load_config(path)


def test_config_path_too_long_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the config: File name too long"):
        load_config(tmp_path / ("c" * 300 + ".yaml"))
