"""Config validation: every error names the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.conftest import CONFIG

from evalctl.config import load_config, parse_config
from evalctl.errors import ConfigError


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
])
def test_bad_config_names_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
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
