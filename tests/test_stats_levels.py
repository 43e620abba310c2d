"""Issue #16 (ingest with profiles at most 1.3x ingest without): categorical level codes read
from a Parquet file's dictionaries (`evalctl.stats.levels`) count exactly what polars'
String -> Enum level index counts (`level_index` + `CategoricalCounter.add`, the scan
path's) — on nulls, unseen and empty-string levels, Int8 columns with negatives and nulls,
files of several row groups whose dictionaries differ, batches that do not line up with the
row groups, and empty files."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evalctl.errors import StoreError
from evalctl.profiles.format import counted_table
from evalctl.stats.binning import CategoricalBins, fit_binning
from evalctl.stats.levels import Entries, LevelCodes, codable, integers
from evalctl.stats.summarize import count_windows

START = datetime(2026, 11, 1)
KINDS = {"c": "categorical", "label": "categorical", "x": "numeric"}


def reference() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pl.DataFrame({
        "c": rng.choice(["a", "b", "c", "d", "e", "f"], n, p=[0.3, 0.3, 0.2, 0.1, 0.05, 0.05]),
        "label": pl.Series(rng.choice([0, 1, -1, 5], n), dtype=pl.Int8),
        "x": rng.normal(0, 1, n),
    })


BINNING = fit_binning(reference().lazy(), KINDS, n_bins=4, top_k=3, fine_bins=10)


def data(n: int, seed: int = 1) -> pl.DataFrame:
    """Rows over three days, with nulls, unseen levels (and the empty string) and Int8
    values the reference never saw (negative ones too); each day's rows in a run, as a
    daily data file holds them."""
    rng = np.random.default_rng(seed)
    c = rng.choice(["a", "b", "c", "d", "e", "f", "new", "", "zz"], n).astype(object)
    c[rng.random(n) < 0.1] = None
    label = rng.choice([0, 1, -1, 5, -128, 127, 9], n).astype(object)
    label[rng.random(n) < 0.1] = None
    hours = np.sort(rng.integers(0, 72, n))
    return pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in hours],
        "c": pl.Series(c.tolist(), dtype=pl.String),
        "label": pl.Series(label.tolist(), dtype=pl.Int8),
        "x": rng.normal(0, 1, n),
    })


def parquet(frame: pl.DataFrame, row_group: int) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=row_group)
    return buffer.getvalue()


def codes_of(file: bytes, features: list[str], batch_rows: int) -> LevelCodes:
    """The file's level codes, text read as dictionaries (as `Store.dictionary_reader`)."""
    opened = pq.ParquetFile(io.BytesIO(file), read_dictionary=[f for f in features if f == "c"])
    return LevelCodes({f: BINNING.categorical[f] for f in features},
                      opened.iter_batches(batch_size=batch_rows, columns=features))


def profiles(file: bytes, codes: LevelCodes | None, chunk: int | None = None) -> pl.DataFrame:
    lf = pl.scan_parquet(io.BytesIO(file))
    parts = [lf.slice(s, chunk) for s in range(0, len(pl.read_parquet(file)), chunk)] \
        if chunk else ()
    windows = count_windows(lf, BINNING, by=pl.col("ts").dt.truncate("1d"), parts=parts,
                            codes=codes)
    return counted_table(windows, KINDS)


@pytest.mark.parametrize(("rows", "row_group", "batch_rows", "chunk"), [
    (3000, 3000, 65536, None),  # one row group, one batch
    (3000, 700, 65536, None),  # several row groups: a dictionary each
    (3000, 700, 256, 1000),  # batches and slices across row groups
    (5, 2, 1, 3),
])
def test_codes_count_what_the_enum_cast_counts(rows: int, row_group: int, batch_rows: int,
                                              chunk: int | None) -> None:
    file = parquet(data(rows), row_group)
    assert len(pq.ParquetFile(io.BytesIO(file)).metadata.to_dict()["row_groups"]) == \
        -(-rows // row_group)
    coded = profiles(file, codes_of(file, ["c", "label"], batch_rows), chunk)
    plain = profiles(file, None, chunk)
    assert coded.equals(plain, null_equal=True)
    if rows >= 1000:  # every unseen level met, the empty string among them
        unseen = coded.filter(pl.col("feature") == "c")
        assert {n for names in unseen.get_column("unseen").to_list() for n in names} == \
            {"", "new", "zz"}


def test_codes_count_what_the_enum_cast_counts_when_windows_interleave() -> None:
    """Rows out of time order: a batch's windows come back in several runs and are gathered
    (`_window_parts`), their entries by the same row indices."""
    shuffled = data(3000).sample(fraction=1.0, shuffle=True, seed=5)
    file = parquet(shuffled, 700)
    coded = profiles(file, codes_of(file, ["c", "label"], 256), 1000)
    assert coded.equals(profiles(file, None, 1000), null_equal=True)


def test_entries_slice_and_gather_as_one_array_would() -> None:
    """`Entries` hands out views of the pieces a batch's rows span: every slice and gather
    holds what the same slice or gather of the pieces joined into one array holds."""
    rng = np.random.default_rng(11)
    sizes = [0, 5, 1, 7, 0, 3]
    pieces = [(n, {"c": rng.integers(0, 50, n), "d": rng.integers(0, 9, n)}) for n in sizes]
    entries = Entries(["c", "d"], pieces)
    whole = {f: np.concatenate([p[f] for _, p in pieces]) for f in ("c", "d")}
    total = sum(sizes)
    for start in range(total + 1):
        for length in range(total - start + 1):
            part = entries.slice(start, length)
            assert sum(n for n, _ in part.pieces) == length
            for f in ("c", "d"):
                assert all(e.size == n for (n, _), e in zip(part.pieces, part.of(f),
                                                             strict=True))
                joined = np.concatenate(part.of(f)) if part.pieces else np.zeros(0, int)
                np.testing.assert_array_equal(joined, whole[f][start:start + length])
    rows = rng.permutation(total)[:9]
    gathered = entries.slice(2, total - 2).gather(rows[rows < total - 2])
    for f in ("c", "d"):
        np.testing.assert_array_equal(np.concatenate(gathered.of(f)),
                                      whole[f][2:][rows[rows < total - 2]])
    assert Entries(["c"], []).gather(np.zeros(0, dtype=np.intp)).of("c")[0].size == 0


def test_int8_codes_and_unseen_integers_as_text() -> None:
    frame = data(2000, seed=3)
    file = parquet(frame, 500)
    coded = profiles(file, codes_of(file, ["label"], 300))
    assert coded.equals(profiles(file, None), null_equal=True)
    heads = coded.filter(pl.col("feature") == "label")
    names = {n for ns in heads.get_column("unseen").to_list() for n in ns}
    assert names == {"-128", "127", "9"} - set(BINNING.categorical["label"].known)
    nulls = frame.group_by(pl.col("ts").dt.truncate("1d")).agg(pl.col("label").null_count())
    assert heads.get_column("nulls").sum() == nulls.get_column("label").sum()


def test_an_empty_file_gives_the_same_empty_profile() -> None:
    file = parquet(data(10).head(0), 100)
    coded = profiles(file, codes_of(file, ["c", "label"], 100))
    assert coded.equals(profiles(file, None), null_equal=True)


def test_a_stream_that_does_not_match_the_rows_is_a_store_error() -> None:
    file = parquet(data(100), 40)
    shorter = parquet(data(100).head(60), 40)
    with pytest.raises(StoreError, match="ended before"):
        profiles(file, codes_of(shorter, ["c"], 40))
    with pytest.raises(StoreError, match="more rows"):
        profiles(shorter, codes_of(file, ["c"], 40))


def test_a_short_stream_names_its_file() -> None:
    bins = CategoricalBins(vocabulary=("b",), known=frozenset({"a", "b"}), known_complete=True)
    array = pa.array(["b", "a"]).dictionary_encode()
    codes = LevelCodes({"c": bins}, iter([pa.record_batch([array], names=["c"])]),
                       source="day.parquet")
    with pytest.raises(StoreError, match=r"^day\.parquet: a data file ended before") as raised:
        codes.take(3)
    assert raised.value.file == "day.parquet"


def test_codes_by_hand() -> None:
    bins = CategoricalBins(vocabulary=("b",), known=frozenset({"a", "b"}), known_complete=True)
    array = pa.array(["b", None, "x", "a", "x", "y"]).dictionary_encode()
    codes = LevelCodes({"c": bins}, iter([pa.record_batch([array], names=["c"])]))
    first, then = (np.concatenate(codes.take(n).of("c")) for n in (4, 2))
    assert first.tolist() == [0, 4, 1, 2] and then.tolist() == [1, 3]  # b x a y, then null
    coder = codes.tables["c"]
    # known levels sorted: a -> 0, b -> 1; null -> 2; unseen: x -> 3, y -> 4
    assert coder.table[first].tolist() == [1, 2, 3, 0] and coder.table[then].tolist() == [3, 4]
    assert coder.names == ["x", "y"]
    codes.finish()


@pytest.mark.parametrize("text", [pa.string(), pa.large_string(), pa.string_view()])
def test_codes_of_every_text_type_by_hand(text: pa.DataType) -> None:
    """The known levels are looked up in one call per dictionary (`index_in`; string_view
    through large_string): the same entries, codes and unseen names, in order met, for every
    type a scan reads as text, across dictionaries that differ."""
    bins = CategoricalBins(vocabulary=("b",), known=frozenset({"a", "b", ""}),
                           known_complete=True)
    first = pa.array(["x", "b", None, "", "a", "x"], type=text).dictionary_encode()
    second = pa.array(["y", "a", "x", "zz", None], type=text).dictionary_encode()
    batches = [pa.record_batch([array], names=["c"]) for array in (first, second)]
    codes = LevelCodes({"c": bins}, iter(batches))
    entries = np.concatenate(codes.take(11).of("c"))
    coder = codes.tables["c"]
    # known sorted: "" -> 0, a -> 1, b -> 2; null -> 3; unseen: x -> 4, y -> 5, zz -> 6
    assert coder.table[entries].tolist() == [4, 2, 3, 0, 1, 4, 5, 1, 4, 6, 3]
    assert coder.names == ["x", "y", "zz"]
    codes.finish()


@pytest.mark.parametrize("text", [pa.string(), pa.large_string(), pa.string_view()])
@pytest.mark.parametrize("size", [1, 32, 33, 300])
def test_small_and_large_dictionaries_give_the_same_codes(text: pa.DataType, size: int) -> None:
    """A dictionary of at most 32 values is looked up value by value, a larger one by
    `index_in`: on either side of that size, every entry's code is the brute-force one
    (known levels by sorted position, a null K, unseen names K + 1 + j in the order first
    met, across two dictionaries)."""
    rng = np.random.default_rng(size)
    known = {f"k{i}" for i in range(0, 400, 3)} | {""}
    bins = CategoricalBins(vocabulary=("k0",), known=frozenset(known), known_complete=True)
    pool = [f"k{i}" for i in range(400)] + ["", "new"]
    first, second = ([str(v) for v in rng.choice(pool, size, replace=False)] for _ in range(2))
    arrays = [pa.array(values + [None], type=text).dictionary_encode() for values in
              (first, second)]
    codes = LevelCodes({"c": bins}, iter(pa.record_batch([a], names=["c"]) for a in arrays))
    entries = np.concatenate(codes.take(2 * (size + 1)).of("c"))
    coder = codes.tables["c"]
    order = sorted(known)
    unseen: list[str] = []
    expected = []
    for value in first + [None] + second + [None]:
        if value is None:
            expected.append(len(order))
        elif value in known:
            expected.append(order.index(value))
        else:
            if value not in unseen:
                unseen.append(value)
            expected.append(len(order) + 1 + unseen.index(value))
    assert coder.table[entries].tolist() == expected
    assert coder.names == unseen
    codes.finish()


def test_int8_codes_by_hand_with_and_without_nulls() -> None:
    bins = CategoricalBins(vocabulary=("1",), known=frozenset({"0", "1", "-3"}),
                           known_complete=True)
    arrays = [pa.array([1, -128, 0, 127], type=pa.int8()),
              pa.array([None, -3, 5, None, 1], type=pa.int8())]
    codes = LevelCodes({"c": bins}, iter(pa.record_batch([a], names=["c"]) for a in arrays))
    entries = np.concatenate(codes.take(9).of("c"))
    coder = codes.tables["c"]
    # known sorted as text: "-3" -> 0, "0" -> 1, "1" -> 2; null -> 3; unseen in order of
    # the 256 values: "-128" -> 4, ..., then "127", "5" after
    names = coder.names
    got = [coder.table[e] for e in entries.tolist()]
    assert got[:4] == [2, 4 + names.index("-128"), 1, 4 + names.index("127")]
    assert got[4:] == [3, 0, 4 + names.index("5"), 3, 2]
    codes.finish()


def test_which_types_are_coded() -> None:
    assert codable(pa.string()) and codable(pa.large_string()) and codable(pa.int8())
    assert not codable(pa.float64()) and not codable(pa.int64()) and not codable(pa.bool_())


def test_profiles_from_a_stores_dictionaries_equal_the_enum_casts(
        cli, workdir, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the store: every production file's profile (`profile_on`, country and the Int8
    predicted_label coded from the file) equals the one counted with the String -> Enum cast
    (the dictionary reader switched off), also when the config now gives country another
    type (the scan reads it as numbers: not coded, the cast counts it)."""
    from dataclasses import replace

    from tests.helpers import PROFILED_CONFIG, make_frame
    from tests.test_profiles import production

    from evalctl.lake.store import Store
    from evalctl.profiles.compute import profile_file
    from evalctl.profiles.reference import current_reference
    from evalctl.settings.load import load_config

    model_args = ["--model", "churn"]
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))
    cli("ingest", str(frame_file(make_frame(3000, seed=1, prefix="t"), "t.parquet")),
        *model_args, "--version", "v1", "--env", "training")
    assert cli("profiles", "build", *model_args).code == 0
    cli("ingest", str(frame_file(production(), "p.parquet")), *model_args, "--version", "v1",
        "--env", "production")
    store = Store.open(workdir / "store")
    model = load_config(workdir / "evalctl.yaml").models["churn"]
    reference = current_reference(store.storage, "churn")
    assert reference is not None and "predicted_label" in reference.binning.categorical
    files = [f for r in store.prediction_records("churn") if r.env == "production"
             for f in r.files]
    renamed = replace(model, features={**model.features, "country": "numeric"})
    tables = []
    for config in (model, renamed):
        coded = [profile_file(store, config, reference, "v1", "production", f) for f in files]
        with monkeypatch.context() as patch:
            patch.setattr(Store, "dictionary_reader", lambda self, entry: None)
            cast = [profile_file(store, config, reference, "v1", "production", f)
                    for f in files]
        assert all(a.equals(b, null_equal=True) for a, b in zip(coded, cast, strict=True))
        tables.append(pl.concat(coded).filter(pl.col("feature") == "country"))
    as_text, as_numbers = tables  # the renamed config's scan did read other values
    assert as_numbers.get_column("nulls").sum() > as_text.get_column("nulls").sum()


@pytest.mark.parametrize("kind", [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(),
                                  pa.uint16(), pa.uint32(), pa.uint64()])
def test_integers_read_from_buffers_equal_polars_conversion(kind: pa.DataType) -> None:
    """`integers` reads the values and validity bitmap itself (pyarrow's `to_numpy` imports
    pandas): checked against polars' conversion on nulls, slices at every bit offset of the
    bitmap, empty arrays and all-null ones."""
    rng = np.random.default_rng(7)
    low, high = (0, 100) if kind.id in (pa.uint8().id, pa.uint16().id, pa.uint32().id,
                                        pa.uint64().id) else (-100, 100)
    values = pl.Series(rng.integers(low, high, 53)).cast(pl.from_arrow(pa.array([], kind)).dtype)
    values = values.scatter(rng.choice(53, 17, replace=False).tolist(), None)
    whole = values.to_arrow()
    for start in range(0, 12):
        for length in (0, 1, 9, 53 - start):
            part = whole.slice(start, length)
            expected = pl.from_arrow(part).fill_null(99).to_numpy()
            got = integers(part, 99)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
            as_int32 = integers(part, -1, np.int32)
            assert as_int32.dtype == np.int32
            np.testing.assert_array_equal(as_int32, pl.from_arrow(part).cast(pl.Int32)
                                          .fill_null(-1).to_numpy())
    nulls = pa.nulls(5, kind)
    np.testing.assert_array_equal(integers(nulls, 3), np.full(5, 3))
    with pytest.raises(TypeError):
        integers(pl.Series([1.5]).to_arrow(), 0)
