"""Issue #13 items 1-6: ingest refuses or flags what it cannot read unambiguously.

The bad-input corpus is data: each case is (name, files, config, argv, expected substring).
Files come from ``tests/bad_inputs/`` (``@name``) or are generated here. Every case must exit 2
with exactly one stderr line naming the file / column / key, and leave every byte of the store
(which already holds a committed batch) as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.helpers import CONFIG, MULTICLASS_CONFIG, make_frame

BAD = Path(__file__).parent / "bad_inputs"
HEADER = "request_id,ts,age,country,minutes,score,predicted_label\n"
INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
INVISIBLE = "contains the invisible or space character"
REGRESSION = """\
  reg:
    task: regression
    id: request_id
    timestamp: ts
    prediction: minutes_pred
    features: {age: numeric}
"""


def store_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file below the store (byte-identical, not merely the same size)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _model_keys(text: str) -> str:
    """YAML lines added to the churn model's keys."""
    return CONFIG + "".join(f"    {line}\n" for line in text.strip().splitlines())


def _broken_jsonl(folder: Path) -> None:
    rows = [json.dumps({"request_id": f"r{i}", "ts": "2026-11-01T10:00:00", "age": 30,
                        "country": "US", "minutes": 1.0, "score": 0.5, "predicted_label": 1})
            for i in range(10_050)]
    rows[10_020] = rows[10_020][:25]  # cut mid-object, past the schema-inference rows
    (folder / "broken.jsonl").write_text("\n".join(rows) + "\n")


def _duplicate_parquet(folder: Path) -> None:
    table = pa.table([pa.array(["a"]), pa.array([datetime(2026, 11, 1)]), pa.array([30.0]),
                      pa.array(["US"]), pa.array([1.0]), pa.array([0.5]), pa.array([1]),
                      pa.array([0.7])],
                     names=["request_id", "ts", "age", "country", "minutes", "score",
                            "predicted_label", "score"])
    pq.write_table(table, folder / "dup.parquet")


def _epoch_parquet(folder: Path) -> None:
    make_frame(5).with_columns(pl.col("ts").dt.epoch("s")).write_parquet(folder / "epoch.parquet")


def _nan_parquet(folder: Path) -> None:
    make_frame(5).with_columns(pl.lit(float("nan")).alias("score")).write_parquet(
        folder / "nan.parquet")


def _old_parquet(folder: Path) -> None:
    frame = make_frame(5).with_columns(
        pl.when(pl.col("request_id") == "r00003").then(pl.lit(datetime(1900, 1, 1)))
        .otherwise(pl.col("ts")).alias("ts"))
    frame.write_parquet(folder / "old.parquet")


def _regression_inf(folder: Path) -> None:
    (folder / "reg.csv").write_text("request_id,ts,age,minutes_pred\n"
                                    "a,2026-11-01T10:00:00,30,1.5\n"
                                    "b,2026-11-01T10:00:00,30,inf\n")


def _csv(name: str, *rows: str) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / name).write_text(HEADER + "".join(f"{r}\n" for r in rows))
    return write


CARDS_HEADER = ("request_id,ts,income,channel,predicted_card,card,p_prepaid,p_highstreet,"
                "p_upmarket\n")
CARDS_INGEST = ["ingest", "--model", "cards", "--version", "v1", "--env", "production"]


def _cards_csv(name: str, *rows: str) -> Callable[[Path], None]:
    """A `cards` (multiclass, MULTICLASS_CONFIG) export; its first row is a good one."""
    def write(folder: Path) -> None:
        good = "a,2026-11-01T10:00:00,30,web,prepaid_card,prepaid_card,0.7,0.2,0.1\n"
        (folder / name).write_text(CARDS_HEADER + good + "".join(f"{r}\n" for r in rows))
    return write


@dataclass(frozen=True)
class Case:
    name: str
    files: tuple[str | Callable[[Path], None], ...]  # "@x" copies tests/bad_inputs/x
    argv: tuple[str, ...]
    expected: str
    config: str = CONFIG
    config_file: str | None = None  # a tests/bad_inputs file replacing evalctl.yaml
    more: tuple[str, ...] = field(default=())  # further substrings of the same line


CASES = [
    # 1. timestamps: ISO 8601 / RFC 3339, a configured format, or epochs with a unit
    Case("day-first date", ("@day_first_date.csv",), (*INGEST, "day_first_date.csv"),
         "day_first_date.csv: column 'ts': cannot read '11/02/2026 10:00' as a timestamp "
         "(row 2)", more=("models.churn.timestamp_format", "models.churn.timestamp_unit")),
    Case("month-first date", ("@month_first_date.csv",), (*INGEST, "month_first_date.csv"),
         "month_first_date.csv: column 'ts': cannot read '11/25/2026 10:00'"),
    Case("year before the plausible range", ("@year_1900.csv",), (*INGEST, "year_1900.csv"),
         "year_1900.csv: column 'ts': 1900-01-01 00:00:00 is outside the plausible years "
         "1970-2100 (row 2)", more=("models.churn.timestamp_years",)),
    Case("typed timestamp before 1970", (_old_parquet,), (*INGEST, "old.parquet"),
         "old.parquet: column 'ts': 1900-01-01 00:00:00 is outside the plausible years "
         "1970-2100 (row 4)"),
    Case("year outside a configured range", ("@year_1900.csv",), (*INGEST, "year_1900.csv"),
         "year_1900.csv: column 'ts': 2026-11-01 10:00:00 is outside the plausible years "
         "2027-2030 (row 1)", config=_model_keys("timestamp_years: [2027, 2030]")),
    Case("leap second", ("@leap_second.csv",), (*INGEST, "leap_second.csv"),
         "leap_second.csv: column 'ts': cannot read '2026-12-31T23:59:60' as a timestamp "
         "(row 1): leap second"),
    Case("leap second with a format", ("@leap_second.csv",), (*INGEST, "leap_second.csv"),
         "column 'ts': cannot read '2026-12-31T23:59:60' as a timestamp (row 1): leap second",
         config=_model_keys("timestamp_format: '%Y-%m-%dT%H:%M:%S'")),
    Case("offsets, then naive", ("@offsets_then_naive.csv",),
         (*INGEST, "offsets_then_naive.csv"),
         "offsets_then_naive.csv: column 'ts': '2026-11-01T12:00:00' has no UTC offset but "
         "the column's first timestamp '2026-11-01T10:00:00+02:00' has one (row 3)"),
    Case("naive, then offsets", (_csv("n.csv", "a,2026-11-01T10:00:00,30,US,1,0.5,1",
                                      "b,2026-11-01T11:00:00+01:00,30,US,1,0.5,1"),),
         (*INGEST, "n.csv"), "n.csv: column 'ts': '2026-11-01T11:00:00+01:00' has UTC offset "
         "but the column's first timestamp '2026-11-01T10:00:00' has none (row 2)"),
    Case("two ISO forms in one file", (_csv("f.csv", "a,2026-11-01T10:00:00Z,30,US,1,0.5,1",
                                            "b,2026-11-01 11:00Z,30,US,1,0.5,1"),),
         (*INGEST, "f.csv"), "f.csv: column 'ts': '2026-11-01 11:00Z' is written in another "
         "form than the column's first timestamp '2026-11-01T10:00:00Z' (row 2)"),
    Case("epoch text without a unit", ("@epoch_text.csv",), (*INGEST, "epoch_text.csv"),
         "epoch_text.csv: column 'ts': cannot read '1762000000' as a timestamp (row 1)",
         more=("timestamp_unit: s|ms|us",)),
    Case("numeric epochs without a unit", (_epoch_parquet,), (*INGEST, "epoch.parquet"),
         "epoch.parquet: column 'ts': expected a timestamp (ISO text, date or datetime), got "
         "Int64; for numeric epochs set models.churn.timestamp_unit: s|ms|us"),
    Case("text that is no epoch", (_csv("e.csv", "a,yesterday,30,US,1,0.5,1"),),
         (*INGEST, "e.csv"), "e.csv: column 'ts': cannot read 'yesterday' as epoch seconds "
         "(row 1; models.churn.timestamp_unit)", config=_model_keys("timestamp_unit: s")),
    Case("epochs in the wrong unit", (_csv("ms.csv", "a,1762000000000,30,US,1,0.5,1"),),
         (*INGEST, "ms.csv"), "ms.csv: column 'ts':", config=_model_keys("timestamp_unit: s"),
         more=("outside the plausible years 1970-2100 (row 1)",)),
    Case("value not in the configured format", ("@year_1900.csv",), (*INGEST, "year_1900.csv"),
         "year_1900.csv: column 'ts': cannot read '2026-11-01T10:00:00' with "
         "models.churn.timestamp_format '%d/%m/%Y %H:%M' (row 1)",
         config=_model_keys("timestamp_format: '%d/%m/%Y %H:%M'")),
    Case("actuals arrival time not ISO", ("@actuals_day_first.csv",),
         ("ingest-actuals", "--model", "churn", "actuals_day_first.csv"),
         "actuals_day_first.csv: column 'label_time': cannot read '05/11/2026' as a timestamp "
         "(row 2)", config=_model_keys("actuals: {timestamp: label_time}")),
    Case("actuals without the named arrival column", ("@actuals_without_time.csv",),
         ("ingest-actuals", "--model", "churn", "actuals_without_time.csv"),
         "actuals_without_time.csv: missing required column 'label_time' (timestamp)",
         config=_model_keys("actuals: {timestamp: label_time}")),
    # 2. scores
    Case("percent score", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "score_percent.csv: column 'score': score '85' is outside [0, 1] (row 2)",
         more=("models.churn.score_scale: unbounded",)),
    Case("NaN score in text", ("@score_nan.csv",), (*INGEST, "score_nan.csv"),
         "score_nan.csv: column 'score': score 'NaN' is not a finite number (row 1)"),
    Case("NaN score in parquet", (_nan_parquet,), (*INGEST, "nan.parquet"),
         "nan.parquet: column 'score': score nan is not a finite number (row 1)"),
    Case("infinite score", ("@score_inf.csv",), (*INGEST, "score_inf.csv"),
         "score_inf.csv: column 'score': score '-inf' is not a finite number (row 1)"),
    Case("infinite logit", ("@score_inf.csv",), (*INGEST, "score_inf.csv"),
         "column 'score': score '-inf' is not a finite number (row 1)",
         config=_model_keys("score_scale: unbounded")),
    Case("infinite regression prediction", (_regression_inf,),
         ("ingest", "--model", "reg", "--version", "v1", "--env", "production", "reg.csv"),
         "reg.csv: column 'minutes_pred': prediction 'inf' is not a finite number (row 2)",
         config=CONFIG + REGRESSION),
    # 3. labels and nulls
    Case("text label without positive_label", ("@text_label.csv",), (*INGEST, "text_label.csv"),
         "text_label.csv: column 'label': expected 0/1 values, got 'fraud' (label, row 1); "
         "for text labels set models.churn.positive_label"),
    Case("text label that is neither label", ("@text_label.csv",), (*INGEST, "text_label.csv"),
         "text_label.csv: column 'label': expected 0/1 values, got 'fraud' (label, row 1)",
         config=_model_keys("positive_label: scam\nnegative_label: legit")),
    Case("a number that is no class, with positive_label",
         (_csv("two.csv", "a,2026-11-01T10:00:00,30,US,1,0.5,2"),), (*INGEST, "two.csv"),
         "two.csv: column 'predicted_label': expected 0/1 values, got '2' (prediction, row 1)",
         config=_model_keys("positive_label: fraud")),
    Case("null token not configured", (_csv("na.csv", "a,2026-11-01T10:00:00,NA,US,1,0.5,1"),),
         (*INGEST, "na.csv"), "na.csv: column 'age': cannot read 'NA' as float (feature, row 1)",
         config=_model_keys("null_values: ['']")),
    # multiclass models with their class probabilities (issue #21 item 1)
    Case("label that is no class", (_cards_csv(
        "c.csv", "b,2026-11-01T10:00:00,30,web,prepaid_card,gold_card,0.7,0.2,0.1"),),
         (*CARDS_INGEST, "c.csv"), "c.csv: column 'card': 'gold_card' is not one of the "
         "classes of models.cards.scores (prepaid_card, highstreet_card, upmarket_card) (row 2)",
         config=CONFIG + MULTICLASS_CONFIG),
    Case("prediction that is no class", (_cards_csv(
        "c.csv", "b,2026-11-01T10:00:00,30,web,Prepaid_card,,0.7,0.2,0.1"),),
         (*CARDS_INGEST, "c.csv"), "c.csv: column 'predicted_card': 'Prepaid_card' is not one "
         "of the classes", config=CONFIG + MULTICLASS_CONFIG),
    Case("probabilities that do not sum to 1", (_cards_csv(
        "c.csv", "b,2026-11-01T10:00:00,30,web,prepaid_card,,0.7,0.2,0.2"),),
         (*CARDS_INGEST, "c.csv"), "c.csv: columns p_prepaid, p_highstreet, p_upmarket: the "
         "class probabilities sum to 1.1, not 1 (row 2; tolerance 0.001)",
         config=CONFIG + MULTICLASS_CONFIG),
    Case("a probability missing where others are given", (_cards_csv(
        "c.csv", "b,2026-11-01T10:00:00,30,web,prepaid_card,,0.7,,0.3"),),
         (*CARDS_INGEST, "c.csv"), "c.csv: column 'p_highstreet': no probability where other "
         "classes have one (row 2)", config=CONFIG + MULTICLASS_CONFIG),
    Case("a class probability above 1", (_cards_csv(
        "c.csv", "b,2026-11-01T10:00:00,30,web,prepaid_card,,1.7,-0.5,-0.2"),),
         (*CARDS_INGEST, "c.csv"), "c.csv: column 'p_prepaid': score '1.7' is outside [0, 1] "
         "(row 2)", config=CONFIG + MULTICLASS_CONFIG),
    Case("scores with one class", (), (*CARDS_INGEST, "c.csv"),
         "models.cards.scores: expected a mapping of at least two classes",
         config=CONFIG + MULTICLASS_CONFIG.replace(
             "{prepaid_card: p_prepaid, highstreet_card: p_highstreet, upmarket_card: "
             "p_upmarket}", "{prepaid_card: p_prepaid}")),
    Case("scores naming one column twice", (), (*CARDS_INGEST, "c.csv"),
         "models.cards.scores.upmarket_card: column 'p_highstreet' is already class "
         "highstreet_card's probability", config=CONFIG + MULTICLASS_CONFIG.replace(
             "upmarket_card: p_upmarket", "upmarket_card: p_highstreet")),
    Case("scores beside score", (), (*CARDS_INGEST, "c.csv"),
         "models.cards.scores: give score (one probability) or scores (one per class), not "
         "both", config=CONFIG + MULTICLASS_CONFIG.replace("    label: card", "    score: s\n"
                                                            "    label: card")),
    Case("scores of a binary model", (), (*INGEST, "c.csv"),
         "models.churn.scores: applies to multiclass_classification only",
         config=_model_keys("scores: {a: pa, b: pb}")),
    # 5. names
    *(Case(f"version {shown}", ("@score_percent.csv",),
           ("ingest", "--model", "churn", "--version", version, "--env", "production",
            "score_percent.csv"), f"--version: {shown} is not a valid name: {problem}")
      for version, shown, problem in [
          ("v[1]", "'v[1]'", "contains '['"), ("v*", "'v*'", "contains '*'"),
          ("v?", "'v?'", "contains '?'"), ("v1\nv2", "'v1\\nv2'", f"{INVISIBLE} U+000A"),
          ("v\u202e1", "'v\\u202e1'", f"{INVISIBLE} U+202E"),
          ("v\u200b1", "'v\\u200b1'", f"{INVISIBLE} U+200B"),
          ("x" * 300, "'" + "x" * 40 + "'... (300 chars)", "is 300 characters long "
           "(at most 128)")]),
    Case("model name with glob characters", ("@score_percent.csv",),
         ("ingest", "--model", "churn", "--version", "v1", "--env", "production",
          "score_percent.csv"), "models.ch[u]rn: 'ch[u]rn' is not a valid model name: "
         "contains '['", config=CONFIG.replace("  churn:", '  "ch[u]rn":')),
    Case("overlong model name", ("@score_percent.csv",),
         (*INGEST, "score_percent.csv"), "is not a valid model name: is 200 characters long",
         config=CONFIG.replace("  churn:", "  " + "m" * 200 + ":")),
    # 6. inputs that were internal errors
    Case("input file name too long", (), (*INGEST, "x" * 300 + ".csv"),
         "xxxxxxxxxx... (304 characters): cannot open: File name too long"),
    Case("non-UTF-8 CSV", ("@latin1.csv",), (*INGEST, "latin1.csv"),
         "latin1.csv: cannot read as csv: not UTF-8 text"),
    Case("JSONL broken after row 10,000", (_broken_jsonl,), (*INGEST, "broken.jsonl"),
         "broken.jsonl: cannot read as jsonl: line 10021 is not valid JSON"),
    Case("duplicate CSV columns", ("@duplicate_columns.csv",), (*INGEST, "duplicate_columns.csv"),
         "duplicate_columns.csv: column 'age' appears more than once"),
    Case("duplicate JSON keys", ("@duplicate_keys.jsonl",), (*INGEST, "duplicate_keys.jsonl"),
         "duplicate_keys.jsonl: column 'score' appears more than once"),
    Case("duplicate Parquet columns", (_duplicate_parquet,), (*INGEST, "dup.parquet"),
         "dup.parquet: column 'score' appears more than once"),
    Case("non-UTF-8 config", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "evalctl.yaml: not UTF-8 text", config_file="config_latin1.yaml"),
    Case("duplicate YAML key", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "evalctl.yaml: line 9: duplicate key 'threshold'",
         config_file="config_duplicate_key.yaml"),
    Case("YAML alias bomb", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "evalctl.yaml: aliases expand the document to more than 100,000 values",
         config_file="config_alias_bomb.yaml"),
    Case("NaN threshold", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "models.churn.threshold: expected a finite number, got nan",
         config=_model_keys("threshold: .nan")),
    Case("threshold above 1", ("@score_percent.csv",), (*INGEST, "score_percent.csv"),
         "models.churn.threshold: 1.5 is outside [0, 1]", config=_model_keys("threshold: 1.5")),
    Case("last-1000000d", (), ("slices", "--model", "churn", "--selector",
                               "production@last-1000000d"),
         "selector 'production@last-1000000d': last-1000000d reaches back before 1970"),
    Case("a date in year 1", (), ("slices", "--model", "churn", "--selector",
                                  "production@0001-01-01"),
         "selector 'production@0001-01-01': 0001-01-01 is outside the plausible years"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_corpus(cli, workdir: Path, frame_file, case: Case) -> None:
    good = frame_file(make_frame(50, start=datetime(2026, 11, 1)), "good.parquet")
    assert cli(*INGEST, good).code == 0  # the store holds a committed batch to protect
    for item in case.files:
        if isinstance(item, str):
            (workdir / item[1:]).write_bytes((BAD / item[1:]).read_bytes())
        else:
            item(workdir)
    config = (BAD / case.config_file).read_bytes() if case.config_file else case.config.encode()
    (workdir / "evalctl.yaml").write_bytes(config)
    before = store_hashes(workdir / "store")
    result = cli(*case.argv)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalctl: error: "), result.stderr
    for expected in (case.expected, *case.more):
        assert expected in lines[0], lines[0]
    assert result.no_report()  # only the JSON error envelope on stdout
    assert store_hashes(workdir / "store") == before


def test_every_corpus_file_is_used() -> None:
    used = {item[1:] for c in CASES for item in c.files if isinstance(item, str)}
    used |= {c.config_file for c in CASES if c.config_file}
    assert used == {p.name for p in BAD.iterdir()}


# -- what is accepted, and how it is read ---------------------------------------------------

def _stored(cli, *argv: str) -> pl.DataFrame:
    result = cli("export", "--model", "churn", "-S", "production", "--out", "out.parquet",
                 *argv)
    assert result.code == 0, result.stderr
    return pl.read_parquet("out.parquet").sort("request_id")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-01T10:00:00Z", datetime(2026, 11, 1, 10)),
    ("2026-11-01 12:00+02:00", datetime(2026, 11, 1, 10)),
    ("2026-11-01T10:00:00.25+0000", datetime(2026, 11, 1, 10, 0, 0, 250_000)),
    ('" 2026-11-01t10:00:00,5z "', datetime(2026, 11, 1, 10, 0, 0, 500_000)),  # rarer forms
    ("2026-11-02T01:00:00+03", datetime(2026, 11, 1, 22)),
    ("2026-11-02T01:00:00 -01:30", datetime(2026, 11, 2, 2, 30)),
    ("2026-11-03", datetime(2026, 11, 3)),
    ("2026-11-03T07:30", datetime(2026, 11, 3, 7, 30)),
])
def test_iso_8601_forms_are_read_as_utc(cli, workdir: Path, text: str,
                                        expected: datetime) -> None:
    (workdir / "p.csv").write_text(HEADER + f"a,{text},30,US,1,0.5,1\n")
    assert cli(*INGEST, "p.csv").code == 0
    assert _stored(cli)["ts"].to_list() == [expected]


def test_one_form_per_file_fractions_optional(cli, workdir: Path) -> None:
    """Python's isoformat() leaves out zero microseconds: both read in one file."""
    (workdir / "p.csv").write_text(HEADER + "a,2026-11-01T10:00:00+00:00,30,US,1,0.5,1\n"
                                   "b,2026-11-01T10:00:00.123456+00:00,30,US,1,0.5,1\n"
                                   "c,2026-11-01T10:00:00.5+01:00,30,US,1,0.5,1\n")
    assert cli(*INGEST, "p.csv").code == 0
    assert _stored(cli)["ts"].to_list() == [
        datetime(2026, 11, 1, 10), datetime(2026, 11, 1, 10, 0, 0, 123_456),
        datetime(2026, 11, 1, 9, 0, 0, 500_000)]


def test_timestamp_format_decides_day_and_month(cli, workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text(_model_keys("timestamp_format: '%d/%m/%Y %H:%M'"))
    (workdir / "p.csv").write_text(HEADER + "a,11/02/2026 10:00,30,US,1,0.5,1\n"
                                   "b,25/11/2026 10:00,30,US,1,0.5,1\n")
    result = cli(*INGEST, "p.csv", "--format", "json")
    assert result.code == 0, result.stderr
    assert result.json()["results"][0]["dates"] == ["2026-02-11", "2026-11-25"]


@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 1_000), ("us", 1_000_000)])
def test_epochs_in_the_configured_unit(cli, workdir: Path, frame_file, unit: str,
                                       scale: int) -> None:
    (workdir / "evalctl.yaml").write_text(_model_keys(f"timestamp_unit: {unit}"))
    frame = make_frame(20)
    epochs = frame.with_columns(pl.col("ts").dt.epoch("s") * scale)
    assert cli(*INGEST, frame_file(epochs, "p.parquet")).code == 0
    (workdir / "t.csv").write_text(HEADER + f"text1,{1_762_000_000 * scale},30,US,1,0.5,1\n")
    assert cli(*INGEST, "t.csv").code == 0
    stored = _stored(cli)
    assert stored.filter(pl.col("request_id") != "text1")["ts"].to_list() == \
        frame.sort("request_id")["ts"].dt.truncate("1s").to_list()
    assert stored.filter(pl.col("request_id") == "text1")["ts"].item() == \
        datetime(2025, 11, 1, 12, 26, 40)


def test_unbounded_scores_take_logits(cli, workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text(_model_keys("score_scale: unbounded\nthreshold: 0"))
    (workdir / "p.csv").write_text("request_id,ts,age,country,minutes,score\n"
                                   "a,2026-11-01T10:00:00,30,US,1,20\n"
                                   "b,2026-11-01T10:00:00,30,US,1,-3.5\n")
    assert cli(*INGEST, "p.csv").code == 0
    stored = _stored(cli)
    assert stored["score"].to_list() == [20.0, -3.5]
    assert stored["predicted_label"].to_list() == [1, 0]  # score >= threshold 0


def test_text_labels_map_through_positive_label(cli, workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text(_model_keys("positive_label: fraud"))
    (workdir / "p.csv").write_text(
        "request_id,ts,age,country,minutes,score,predicted_label,label\n"
        "a,2026-11-01T10:00:00,30,US,1,0.5,fraud,fraud\n"
        "b,2026-11-01T10:00:00,30,US,1,0.5,legit,legit\n"
        "c,2026-11-01T10:00:00,30,US,1,0.5,1, NA \n")
    assert cli(*INGEST, "p.csv").code == 0
    stored = _stored(cli)
    assert stored["label"].to_list() == [1, 0, None]
    assert stored["predicted_label"].to_list() == [1, 0, 1]


def test_null_tokens_default_and_configured(cli, workdir: Path) -> None:
    (workdir / "p.csv").write_text(HEADER + "a,2026-11-01T10:00:00,NA,null,N/A,0.5,1\n"
                                   "b,2026-11-01T10:00:00,,NULL,None,0.5,1\n")
    assert cli(*INGEST, "p.csv").code == 0
    stored = _stored(cli)
    assert stored["age"].to_list() == stored["country"].to_list() == [None, None]
    (workdir / "evalctl.yaml").write_text(_model_keys("null_values: ['', '-']"))
    (workdir / "q.csv").write_text(HEADER + "c,2026-11-02T10:00:00,-,NA,1,0.5,1\n")
    assert cli(*INGEST, "q.csv").code == 0
    row = _stored(cli).filter(pl.col("request_id") == "c")
    assert row["age"].item() is None and row["country"].item() == "NA"  # Namibia


def test_actuals_arrival_column_and_unmatched_ids(cli, workdir: Path, frame_file) -> None:
    (workdir / "evalctl.yaml").write_text(_model_keys("actuals: {timestamp: label_time}"))
    assert cli(*INGEST, frame_file(make_frame(10).drop("label"), "p.parquet")).code == 0
    (workdir / "a.csv").write_text("request_id,label,label_time\n"
                                   "r00001,1,2026-11-20T08:00:00\n"
                                   "early00001,0,2026-11-20T09:00:00\n"
                                   "early00002,1,2026-11-21T09:00:00\n")
    result = cli("ingest-actuals", "--model", "churn", "a.csv", "--format", "json")
    assert result.code == 0, result.stderr
    row = result.json()["results"][0]
    assert (row["unmatched_ids"], row["status"], row["rows"]) == (2, "warn", 3)
    assert row["dropped_columns"] == [] and row["dates"] == ["2026-11-20", "2026-11-21"]
    assert result.json()["status"] == "warn"
    assert "warning: 2 id(s) match no stored prediction of the model yet" in result.stderr
    again = cli("ingest-actuals", "--model", "churn", "a.csv", "--format", "json").json()
    assert again["results"][0]["already_ingested"] and again["results"][0]["unmatched_ids"] == 2
    # the early actuals stay stored and join once their predictions arrive
    late = make_frame(3, prefix="early").drop("label")
    assert cli(*INGEST, frame_file(late, "late.parquet")).code == 0
    stored = _stored(cli)
    early = stored.filter(pl.col("request_id").is_in(["early00001", "early00002"]))
    assert early["label"].to_list() == [0, 1]
    from evalctl.lake import Store
    from evalctl.settings.load import load_config
    actuals = Store.open(workdir / "store").scan_actuals(
        load_config(workdir / "evalctl.yaml").model("churn"))
    assert actuals is not None
    assert sorted(actuals.collect()["ts"].to_list()) == [
        datetime(2026, 11, 20, 8), datetime(2026, 11, 20, 9), datetime(2026, 11, 21, 9)]


def test_store_path_with_glob_characters_reads(cli, workdir: Path, frame_file) -> None:
    """Reads use literal paths: a store folder named `st[1]` (ingested before it was
    renamed) exports and reports (it was exit 4)."""
    assert cli(*INGEST, frame_file(make_frame(30), "p.parquet")).code == 0
    (workdir / "store").rename(workdir / "st[1]")
    out = cli("--store", "st[1]", "export", "--model", "churn", "-S", "production", "--out",
              "o.parquet")
    assert out.code == 0, out.stderr
    assert pl.read_parquet(workdir / "o.parquet").height == 30
    assert cli("--store", "st[1]", "slices", "--model", "churn", "-S", "production").code in (0, 1)


def test_ingest_into_a_store_path_with_glob_characters(cli, workdir: Path, frame_file) -> None:
    assert cli("init", "st[1]", "--no-config").code == 0
    result = cli("--store", "st[1]", *INGEST, frame_file(make_frame(30), "p.parquet"))
    assert result.code == 0, result.stderr


def test_input_files_with_glob_characters(cli, workdir: Path, frame_file) -> None:
    frame = make_frame(12)
    for name in ("p[1].parquet", "p[1].csv", "p*.jsonl"):
        path = frame_file(frame.with_columns(pl.col("request_id") + name[-4:]), name)
        result = cli(*INGEST, path)
        assert result.code == 0, result.stderr
    assert _stored(cli).height == 36


def test_a_broken_jsonl_line_is_found_past_the_inferred_rows(tmp_path: Path) -> None:
    from evalctl.lake.readers import open_input, unreadable
    _broken_jsonl(tmp_path)
    path = tmp_path / "broken.jsonl"
    lf, _ = open_input(path, "jsonl")  # the schema comes from the first 10,000 rows
    assert unreadable(path, "jsonl", lf) is not None
    _broken_jsonl(tmp_path)
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(path.read_text().splitlines()[:10_000]) + "\n")
    assert unreadable(good, "jsonl", open_input(good, "jsonl")[0]) is None


def test_plausible_date_check_for_options() -> None:
    """For `monitor --date` and `--as-of`: the library refuses dates outside 1970-2100."""
    from evalctl.errors import InputError
    from evalctl.lake.selectors import check_plausible_date
    check_plausible_date("--date", date(2026, 11, 30))
    with pytest.raises(InputError, match="--date: 0001-01-01 is outside the plausible years"):
        check_plausible_date("--date", date(1, 1, 1))


def test_sample_story_meets_the_rules(story) -> None:
    """The story fixture ingests every sample export under the new rules (it asserts exit 0:
    ISO timestamps in one form, probability scores); its late actuals all match stored
    predictions, so their ingest passes without a warning."""
    result = story("ingest-actuals", str(story.data / "actuals_late.csv"), "--model",
                   "tv-recommender", "--format", "json")
    assert result.code == 0, result.stderr
    row = result.json()["results"][0]
    assert row["already_ingested"] and row["unmatched_ids"] == 0 and row["status"] == "pass"


def test_error_envelope_names_file_and_column(cli, workdir: Path) -> None:
    (workdir / "p.csv").write_bytes((BAD / "day_first_date.csv").read_bytes())
    result = cli(*INGEST, "p.csv")
    assert result.code == 2 and result.no_report()
    error = result.json()["error"]
    assert (error["kind"], error["file"], error["column"]) == ("ingest", "p.csv", "ts")
    (workdir / "d.csv").write_bytes((BAD / "duplicate_columns.csv").read_bytes())
    error = cli(*INGEST, "d.csv").json()["error"]
    assert (error["file"], error["column"]) == ("d.csv", "age")
