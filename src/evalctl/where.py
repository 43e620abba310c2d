"""A small, safe filter language over a model's columns, parsed into a polars expression.

    age < 25 and country in ('BR', 'MX')
    not (device == "tv" or tenure_months is null)
    score >= 0.4 and score < 0.6

Grammar (keywords are case-insensitive)::

    expr        := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | "(" expr ")" | comparison
    comparison  := operand OP operand          OP: < <= > >= == = != <>
                 | NAME ["not"] "in" "(" literal ("," literal)* ")"
                 | NAME "is" ["not"] "null"
    operand     := NAME | literal               (at least one side of a comparison is a NAME)
    literal     := NUMBER | 'text' | "text"     (a quote inside text is doubled: 'O''Brien')
    NAME        := [A-Za-z_][A-Za-z0-9_.]* | `any text`

Nothing is evaluated: a tokenizer and a recursive-descent parser build the expression from a
fixed set of node types. Numeric columns compare with numbers (NaN counts as null); categorical
columns compare as text (a bare number is read as its text). Comparisons with null are null, as
in SQL, so rows with a missing value never match ``age < 25`` nor ``not age < 25``. Errors name
the unknown column or the bad token and its position (1-based character offset).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from evalctl.errors import InputError

MAX_LENGTH = 4000
MAX_DEPTH = 64
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null"})
COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "=": "eq",
               "!=": "ne", "<>": "ne"}
FLIPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<quoted>`[^`]*`)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<op><=|>=|==|!=|<>|<|>|=)
  | (?P<punct>[(),])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number | name | string | op | punct | keyword | end
    text: str
    position: int  # 1-based
    value: str | float | None = None


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens; an unknown character or an unclosed quote is an input error."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            what = "unterminated string" if text[pos] in "'\"`" else f"unexpected {text[pos]!r}"
            raise InputError(f"--where: {what} at position {pos + 1}")
        kind, raw = match.lastgroup or "", match.group()
        if kind != "space":
            tokens.append(_token(kind, raw, pos + 1))
        pos = match.end()
    tokens.append(Token("end", "end of input", len(text) + 1))
    return tokens


def _token(kind: str, raw: str, position: int) -> Token:
    if kind == "number":
        return Token(kind, raw, position, float(raw))
    if kind == "string":
        quote = raw[0]
        return Token(kind, raw, position, raw[1:-1].replace(quote * 2, quote))
    if kind == "quoted":
        return Token("name", raw, position, raw[1:-1])
    if kind == "name" and raw.lower() in KEYWORDS:
        return Token("keyword", raw, position, raw.lower())
    return Token(kind, raw, position, raw)


def parse_where(text: str, columns: Mapping[str, str]) -> pl.Expr:
    """Parse a filter into a boolean polars expression.

    `columns` maps each usable column to ``numeric`` or ``categorical``. Raises InputError
    naming the unknown column or the unexpected token and its position.
    """
    if not text.strip():
        raise InputError("--where: empty expression")
    if len(text) > MAX_LENGTH:
        raise InputError(f"--where: expression longer than {MAX_LENGTH} characters")
    parser = _Parser(tokenize(text), columns)
    expr = parser.parse_or(0)
    parser.expect_end()
    return expr


class _Parser:
    """Recursive descent over the token list; every method consumes what it recognises."""

    def __init__(self, tokens: list[Token], columns: Mapping[str, str]) -> None:
        self.tokens, self.columns, self.index = tokens, dict(columns), 0

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += min(1, len(self.tokens) - 1 - self.index)
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.peek.kind == "keyword" and self.peek.value in words

    def fail(self, token: Token, expected: str) -> InputError:
        got = "the end of the expression" if token.kind == "end" else repr(token.text)
        return InputError(f"--where: expected {expected} at position {token.position}, "
                          f"got {got}")

    def expect(self, kind: str, text: str) -> Token:
        if self.peek.kind != kind or self.peek.text != text:
            raise self.fail(self.peek, repr(text))
        return self.take()

    def expect_end(self) -> None:
        if self.peek.kind != "end":
            raise self.fail(self.peek, "'and', 'or' or the end of the expression")

    def parse_or(self, depth: int) -> pl.Expr:
        if depth > MAX_DEPTH:
            raise InputError(f"--where: nested deeper than {MAX_DEPTH} levels at position "
                             f"{self.peek.position}")
        expr = self.parse_and(depth)
        while self.at_keyword("or"):
            self.take()
            expr = expr | self.parse_and(depth)
        return expr

    def parse_and(self, depth: int) -> pl.Expr:
        expr = self.parse_not(depth)
        while self.at_keyword("and"):
            self.take()
            expr = expr & self.parse_not(depth)
        return expr

    def parse_not(self, depth: int) -> pl.Expr:
        if self.at_keyword("not"):
            self.take()
            return ~self.parse_not(depth + 1)
        if self.peek.kind == "punct" and self.peek.text == "(":
            self.take()
            expr = self.parse_or(depth + 1)
            self.expect("punct", ")")
            return expr
        return self.parse_comparison()

    def parse_comparison(self) -> pl.Expr:
        left = self.operand()
        if left.kind == "name" and self.at_keyword("is"):
            return self.null_test(left)
        if left.kind == "name" and self.at_keyword("in", "not"):
            return self.membership(left)
        op_token = self.peek
        if op_token.kind != "op":
            raise self.fail(op_token, "a comparison (< <= > >= == !=), 'in' or 'is'")
        self.take()
        right = self.operand()
        op = COMPARISONS[op_token.text]
        if left.kind != "name":
            if right.kind != "name":
                raise InputError(f"--where: comparison at position {left.position} compares "
                                 "two values; one side must be a column")
            left, right, op = right, left, FLIPPED[op]
        return _compare(self.column(left), op, self.value_for(left, right))

    def operand(self) -> Token:
        token = self.peek
        if token.kind not in ("name", "number", "string"):
            raise self.fail(token, "a column name or a value")
        self.take()
        if token.kind == "name":
            self.column(token)  # validates the name
        return token

    def null_test(self, name: Token) -> pl.Expr:
        self.take()
        negate = self.at_keyword("not")
        if negate:
            self.take()
        if not self.at_keyword("null"):
            raise self.fail(self.peek, "'null'")
        self.take()
        missing = self.column(name).is_null()
        return ~missing if negate else missing

    def membership(self, name: Token) -> pl.Expr:
        negate = self.at_keyword("not")
        if negate:
            self.take()
            if not self.at_keyword("in"):
                raise self.fail(self.peek, "'in'")
        self.take()
        self.expect("punct", "(")
        values = [self.literal(name)]
        while self.peek.kind == "punct" and self.peek.text == ",":
            self.take()
            values.append(self.literal(name))
        self.expect("punct", ")")
        column = self.column(name)
        found = pl.when(column.is_null()).then(None).otherwise(
            column.is_in(pl.lit(pl.Series(values)).implode()))
        return ~found if negate else found

    def literal(self, name: Token) -> str | float:
        token = self.peek
        if token.kind not in ("number", "string"):
            raise self.fail(token, "a number or a quoted text")
        self.take()
        value = self.value_for(name, token)
        return value if isinstance(value, str | float) else str(token.value)

    def column(self, token: Token) -> pl.Expr:
        name = str(token.value)
        kind = self.columns.get(name)
        if kind is None:
            known = ", ".join(sorted(self.columns))
            raise InputError(f"--where: unknown column {name!r} at position {token.position} "
                             f"(columns: {known})")
        if kind == "numeric":
            return pl.col(name).cast(pl.Float64).fill_nan(None)
        return pl.col(name).cast(pl.String)

    def value_for(self, name: Token, value: Token) -> pl.Expr | str | float:
        """The right-hand side in the column's type (a column, a number or a text)."""
        kind = self.columns[str(name.value)]
        if value.kind == "name":
            other = self.columns[str(value.value)]
            if other != kind:
                raise InputError(f"--where: cannot compare {kind} column {name.value!r} with "
                                 f"{other} column {value.value!r} at position {value.position}")
            return self.column(value)
        if kind == "numeric":
            if value.kind != "number":
                raise InputError(f"--where: column {name.value!r} is numeric; {value.text} at "
                                 f"position {value.position} is not a number")
            return float(value.value)  # type: ignore[arg-type]
        return value.text if value.kind == "number" else str(value.value)


def _compare(column: pl.Expr, op: str, value: pl.Expr | str | float) -> pl.Expr:
    other = value if isinstance(value, pl.Expr) else pl.lit(value)
    return {"lt": column < other, "le": column <= other, "gt": column > other,
            "ge": column >= other, "eq": column == other, "ne": column != other}[op]
