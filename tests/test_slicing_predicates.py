"""Predicates: labels, id tokens, polars filters, dict and id round trips."""

from __future__ import annotations

import math

import polars as pl
import pytest

from evalctl.errors import InputError
from evalctl.slicing import Predicate, parse_slice_id, slice_expr, slice_id
from evalctl.slicing.encoding import FeatureCoding
from evalctl.slicing.predicates import escape, format_number, unescape

FRAME = pl.DataFrame({
    "age": [10.0, 16.0, 24.9, 25.0, 70.0, None, float("nan"), float("inf")],
    "country": ["BR", "US", None, "BR", "DE", "FR", "BR", "US"],
})


@pytest.mark.parametrize(("pred", "label", "token", "rows"), [
    (Predicate("age", "numeric", "range", low=16, high=25), "age in [16, 25)", "age=[16,25)",
     [1, 2]),
    (Predicate("age", "numeric", "range", high=16), "age < 16", "age=[-inf,16)", [0]),
    (Predicate("age", "numeric", "range", low=25), "age >= 25", "age=[25,inf)", [3, 4, 7]),
    (Predicate("age", "numeric", "range"), "age is not null", "age=[-inf,inf)",
     [0, 1, 2, 3, 4, 7]),
    (Predicate("age", "numeric", "null"), "age = <null>", "age=<null>", [5, 6]),
    (Predicate("country", "categorical", "eq", value="BR"), "country = BR", "country=BR",
     [0, 3, 6]),
    (Predicate("country", "categorical", "other", excluded=("BR", "US")), "country = <other>",
     "country=<other>", [4, 5]),
    (Predicate("country", "categorical", "null"), "country = <null>", "country=<null>", [2]),
])
def test_label_token_and_rows(pred: Predicate, label: str, token: str, rows: list[int]) -> None:
    assert pred.label == label
    assert pred.token == token
    selected = FRAME.with_row_index().filter(pred.expr())["index"].to_list()
    assert selected == rows
    assert Predicate.from_dict(pred.to_dict()) == pred


def test_slice_expr_is_a_conjunction_and_empty_is_everything() -> None:
    preds = [Predicate("age", "numeric", "range", low=25),
             Predicate("country", "categorical", "eq", value="US")]
    assert FRAME.filter(slice_expr(preds)).height == 1
    assert FRAME.filter(slice_expr([])).height == FRAME.height
    assert slice_id(preds) == "age=[25,inf)&country=US"


def test_ids_escape_delimiters_and_round_trip() -> None:
    preds = (Predicate("a&b", "categorical", "eq", value="x=1&y%"),
             Predicate("w", "numeric", "range", low=0.1, high=2.5e-7))
    text = slice_id(preds)
    assert text == "a%26b=x%3D1%26y%25&w=[0.1,2.5e-07)"
    assert parse_slice_id(text, {"a&b": "categorical", "w": "numeric"}) == preds
    assert unescape(escape("%26&=%")) == "%26&=%"


def test_format_number_reads_back_exactly() -> None:
    for value in (16.0, -3.0, 0.1, 1 / 3, 1e20, 2.5e-7):
        assert float(format_number(value)) == value
    assert format_number(16.0) == "16"
    assert format_number(math.inf) == "inf"


def test_parse_slice_id_rejects_what_it_cannot_rebuild() -> None:
    kinds = {"age": "numeric", "country": "categorical"}
    assert parse_slice_id("country=<null>", kinds) == (
        Predicate("country", "categorical", "null"),)
    for bad, message in [("country=<other>", "stored predicate"),
                         ("nope=1", "'nope' is not a feature of the model .features: age, "
                                    "country."),
                         ("age=16", "range"), ("age=[a,b)", "bad range"),
                         ("age", "'age' is not FEATURE=LEVEL")]:
        with pytest.raises(InputError, match=message):
            parse_slice_id(bad, kinds)


def test_unknown_op_in_dict() -> None:
    with pytest.raises(InputError, match="unknown predicate op"):
        Predicate.from_dict({"feature": "a", "kind": "numeric", "op": "lt"})


def test_feature_coding_codes_match_predicates() -> None:
    codings = [FeatureCoding("age", "numeric", edges=(16.0, 25.0)),
               FeatureCoding("country", "categorical", levels=("BR", "US"))]
    codes = FRAME.select([c.code_expr().alias(c.name) for c in codings])
    for coding in codings:
        assert codes[coding.name].max() < coding.cardinality
        for code, pred in enumerate(coding.predicates):
            by_code = (codes[coding.name] == code).to_list()
            by_expr = FRAME.select(pred.expr()).to_series().to_list()
            assert by_code == by_expr, (coding.name, code)
