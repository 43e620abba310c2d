"""The `--where` language: parsed by evalctl into polars expressions, never evaluated."""

from __future__ import annotations

import polars as pl
import pytest

from evalctl.errors import InputError
from evalctl.where import parse_where, tokenize

FRAME = pl.DataFrame({
    "id": [1, 2, 3, 4, 5, 6],
    "age": [16.0, 30.0, None, float("nan"), 24.0, 70.0],
    "country": ["BR", "US", None, "MX", "BR", "O'Hare"],
    "odd name": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    "zip": ["01", "1", "2", None, "01", "3"],
})
COLUMNS = {"age": "numeric", "country": "categorical", "odd name": "numeric",
           "zip": "categorical", "id": "numeric"}


def ids(text: str) -> list[int]:
    return FRAME.filter(parse_where(text, COLUMNS))["id"].to_list()


@pytest.mark.parametrize(("text", "expected"), [
    ("age < 25", [1, 5]),
    ("age <= 24", [1, 5]),
    ("age > 25", [2, 6]),
    ("age >= 30 and age != 70", [2]),
    ("age == 30", [2]),
    ("age = 30", [2]),
    ("25 > age", [1, 5]),
    ("country == 'BR'", [1, 5]),
    ('country == "BR"', [1, 5]),
    ("country <> 'BR'", [2, 4, 6]),
    ("country in ('BR', 'MX')", [1, 4, 5]),
    ("country not in ('BR')", [2, 4, 6]),
    ("age in (16, 70)", [1, 6]),
    ("age is null", [3, 4]),
    ("age is not null", [1, 2, 5, 6]),
    ("not age < 25", [2, 6]),
    ("age < 25 or country == 'US'", [1, 2, 5]),
    ("(age < 25 or country == 'US') and not id >= 5", [1, 2]),
    ("AGE < 25 AND Country == 'BR'", []),  # column names are case-sensitive: see below
    ("age < 25 AND country == 'BR'", [1, 5]),
    ("country == 'O''Hare'", [6]),
    ("`odd name` >= 5.5", [6]),
    ("zip == 01", [1, 5]),  # a bare number compares as its text on a categorical column
    ("age > -1e3 and age < 2.5e1", [1, 5]),
])
def test_filters_select_the_expected_rows(text: str, expected: list[int]) -> None:
    if text.startswith("AGE"):
        with pytest.raises(InputError, match="unknown column 'AGE'"):
            ids(text)
        return
    assert ids(text) == expected


def test_comparisons_with_missing_values_never_match() -> None:
    matched = set(ids("age < 25")) | set(ids("not age < 25"))
    assert matched == {1, 2, 5, 6}  # rows 3 (null) and 4 (NaN) are in neither


def test_column_to_column_comparisons() -> None:
    assert ids("id < `odd name`") == []
    assert ids("id == `odd name`") == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(("text", "message"), [
    ("agee < 3", "unknown column 'agee' at position 1 (columns: age, country, id, odd name, zip)"),
    ("age < ", "expected a column name or a value at position 7, got the end of the expression"),
    ("age < 'x'", "column 'age' is numeric; 'x' at position 7 is not a number"),
    ("age << 3", "expected a column name or a value at position 6, got '<'"),
    ("(age < 3", "expected ')' at position 9"),
    ("age < 3)", "expected 'and', 'or' or the end of the expression at position 8, got ')'"),
    ("25 < 3", "compares two values"),
    ("country = 'BR", "unterminated string at position 11"),
    ("age # 3", "unexpected '#' at position 5"),
    ("", "empty expression"),
    ("age in 3", "expected '(' at position 8, got '3'"),
    ("age in ()", "expected a number or a quoted text at position 9, got ')'"),
    ("country is nul", "expected 'null' at position 12, got 'nul'"),
    ("age and 3", "expected a comparison"),
    ("age < country", "cannot compare numeric column 'age' with categorical column 'country'"),
    ("__import__('os') == 1", "unknown column '__import__' at position 1"),
    ("age < 3 or", "expected a column name or a value at position 11"),
    ("age < 25abc", "at position 9, got 'abc'"),
])
def test_errors_name_the_problem_and_its_position(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_where(text, COLUMNS)
    assert str(info.value).startswith("--where: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_nesting_and_length_are_bounded() -> None:
    deep = "(" * 100 + "age < 3" + ")" * 100
    with pytest.raises(InputError, match="nested deeper than"):
        parse_where(deep, COLUMNS)
    with pytest.raises(InputError, match="longer than"):
        parse_where("age < 3 or " * 1000 + "age < 3", COLUMNS)
    assert ids("(" * 20 + "age < 25" + ")" * 20) == [1, 5]


def test_tokens_carry_positions() -> None:
    tokens = tokenize("age >= 25 and `odd name` in ('a', \"b\")")
    assert [(t.kind, t.position) for t in tokens[:4]] == [
        ("name", 1), ("op", 5), ("number", 8), ("keyword", 11)]
    assert tokens[4].value == "odd name" and tokens[-1].kind == "end"
