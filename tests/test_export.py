"""`evalctl export`: the examples behind a finding, streamed to Parquet or CSV, atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import CliResult, store_snapshot
from tests.helpers import validate_envelope as validate

from evalctl.cli.app import run

M = ["--model", "tv-recommender"]
AFTER = "production@2026-11-15..2026-11-25"
COLUMNS = ["request_id", "ts", "age", "country", "device", "tenure_months", "watch_minutes_7d",
           "genre_affinity", "sessions_7d", "predicted_label", "score", "watched"]


@pytest.fixture(scope="module")
def raw(story) -> pl.DataFrame:
    return pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True).filter(
        (pl.col("ts").dt.date() >= pl.date(2026, 11, 15))
        & (pl.col("ts").dt.date() <= pl.date(2026, 11, 25)))


def export(story, tmp_path: Path, name: str, *args: str) -> tuple[CliResult, Path]:
    out = tmp_path / name
    return story("export", *M, "--selector", AFTER, "--out", out, "--format", "json",
                 *args), out


def test_a_segment_id_exports_exactly_its_rows(story, raw, tmp_path: Path) -> None:
    result, out = export(story, tmp_path, "young.parquet", "--segment", "age=[-inf,25)")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    written = pl.read_parquet(out)
    expected = raw.filter(pl.col("age") < 25)
    assert written.columns == COLUMNS and doc["summary"]["rows"] == written.height
    assert sorted(written["request_id"]) == sorted(expected["request_id"])
    assert written["watched"].null_count() == 0


def test_where_filters_and_csv_output(story, raw, tmp_path: Path) -> None:
    where = "age < 25 and device == 'mobile' or country in ('BR', 'MX') and score >= 0.9"
    result, out = export(story, tmp_path, "rows.csv", "--where", where)
    assert result.code == 0, result.stderr
    written = pl.read_csv(out)
    expected = raw.filter(((pl.col("age") < 25) & (pl.col("device") == "mobile"))
                          | (pl.col("country").is_in(["BR", "MX"]) & (pl.col("score") >= 0.9)))
    assert sorted(written["request_id"]) == sorted(expected["request_id"])
    assert result.json()["results"][0]["format"] == "csv"


def test_only_errors_keeps_the_misclassified_rows(story, raw, tmp_path: Path) -> None:
    result, out = export(story, tmp_path, "errors.parquet", "--only-errors", "--segment",
                         "country=BR")
    written = pl.read_parquet(out)
    expected = raw.filter((pl.col("country") == "BR")
                          & (pl.col("predicted_label") != pl.col("watched")))
    assert result.code == 0 and written.height == expected.height > 0
    assert (written["predicted_label"] != written["watched"]).all()


def test_the_sample_is_deterministic_and_seeded(story, tmp_path: Path) -> None:
    first, a = export(story, tmp_path, "a.parquet", "--sample", "50", "--where", "age < 30")
    _, b = export(story, tmp_path, "b.parquet", "--sample", "50", "--where", "age < 30")
    _, c = export(story, tmp_path, "c.parquet", "--sample", "50", "--where", "age < 30",
                  "--seed", "1")
    ids = [pl.read_parquet(p)["request_id"].to_list() for p in (a, b, c)]
    assert len(ids[0]) == 50 and ids[0] == ids[1] and ids[0] != ids[2]
    frame = pl.read_parquet(a)
    assert frame.equals(frame.sort("ts", "request_id")) and (frame["age"] < 30).all()
    assert first.json()["results"][0]["seed"] == 0


def test_late_labels_are_exported_from_the_actuals(story, tmp_path: Path) -> None:
    out = tmp_path / "late.parquet"
    result = story("export", *M, "--selector", "production@2026-11-26..2026-11-30", "--out",
                   out, "--sample", "200")
    assert result.code == 0 and pl.read_parquet(out)["watched"].null_count() == 0


def test_no_match_writes_an_empty_file_and_warns(story, tmp_path: Path) -> None:
    result, out = export(story, tmp_path, "none.parquet", "--where", "age > 1000")
    assert result.code == 0 and result.json()["status"] == "warn"
    assert pl.read_parquet(out).height == 0 and pl.read_parquet(out).columns == COLUMNS
    again, _ = export(story, tmp_path, "none.parquet", "--where", "age > 1000", "--fail-on",
                      "warn")
    assert again.code == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "agee < 3"], "--where: unknown column 'agee' at position 1"),
    (["--where", "age < 'x'"], "is not a number"),
    (["--segment", "agex=[1,2)"], "segment 'agex=[1,2)'"),
    (["--segment", "country=<other>"], "needs the stored predicate list"),
    (["--sample", "0"], "--sample: expected a positive number"),
    (["--only-errors", "--where", "(score > 1"], "expected ')'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(story, tmp_path: Path, args: list[str],
                                                         message: str) -> None:
    before = store_snapshot(story.store)
    result, out = export(story, tmp_path, "bad.parquet", *args)
    assert result.code == 2 and result.no_report()
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert store_snapshot(story.store) == before


def test_bad_targets(story, tmp_path: Path) -> None:
    result = story("export", *M, "--selector", AFTER, "--out", tmp_path / "x.txt")
    assert result.code == 2 and "expected a .parquet or .csv file name" in result.stderr
    inside = story("export", *M, "--selector", AFTER, "--out", story.store / "x.parquet")
    assert inside.code == 2 and "inside the store" in inside.stderr
    assert not (story.store / "x.parquet").exists()


def test_a_failed_write_leaves_no_partial_file(story, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "keep.parquet"
    out.write_bytes(b"previous export")
    original = pl.LazyFrame.sink_parquet

    def broken(self: pl.LazyFrame, path: Path, **kwargs: object) -> None:
        original(self.head(10), path)  # a partial file under the temporary name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", broken)
    result = story("export", *M, "--selector", AFTER, "--out", out)
    assert result.code == 2 and "No space left on device" in result.stderr
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.parquet"]


REGRESSION = """\
store: store
models:
  price:
    task: regression
    id: request_id
    timestamp: ts
    score: predicted
    label: price
    features:
      rooms: numeric
"""


def test_regression_errors_are_the_top_decile_of_squared_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 1000
    frame = pl.DataFrame({"request_id": [f"r{i}" for i in range(n)],
                          "ts": pl.datetime_range(pl.datetime(2026, 11, 1),
                                                  pl.datetime(2026, 11, 2), "1m",
                                                  eager=True).head(n),
                          "rooms": rng.integers(1, 6, n) * 1.0, "price": rng.normal(100, 10, n),
                          "predicted": rng.normal(100, 10, n)})
    frame.write_parquet(tmp_path / "p.parquet")
    (tmp_path / "evalctl.yaml").write_text(REGRESSION)
    base = ["--config", str(tmp_path / "evalctl.yaml")]

    def cli(*args: object) -> int:
        return run([*base, *(str(a) for a in args)], stdout=io.StringIO(), stderr=io.StringIO())

    assert cli("init", tmp_path / "store", "--no-config") == 0
    assert cli("ingest", tmp_path / "p.parquet", "--model", "price", "--version", "v1",
               "--env", "production") == 0
    out = tmp_path / "worst.parquet"
    assert cli("export", "--model", "price", "--selector", "production", "--only-errors",
               "--out", out) == 0
    errors = ((frame["predicted"] - frame["price"]) ** 2).sort()
    written = pl.read_parquet(out)
    cutoff = errors[int(0.9 * (n - 1))]
    assert written.height == (errors >= cutoff).sum()
    assert (((written["predicted"] - written["price"]) ** 2) >= cutoff).all()
