"""Categorical level codes from Arrow dictionary arrays: the level lookup once per dictionary
entry, not once per value.

`summarize` gives each row of a categorical column its index among the reference's sorted
known levels with polars' String -> Enum cast (`evalctl.stats.counters.level_index`): a hash
of every value, ~20 ns each, a fifth of what profiling a data file costs. A Parquet file
already stores such a column as a dictionary and, per row, an index into it; read that way
(pyarrow's ``read_dictionary``), the lookup runs once per dictionary entry (a few hundred a
row group) and each row's code is one numpy gather of the small mapped dictionary.

A row's *code* (`LevelCodes.codes`): ``0 .. K-1`` its index among the K sorted known levels,
``K`` a null, ``K + 1 + j`` the unseen level `names[j]` (each unseen level once, in the order
first met). `CategoricalCounter.add_codes` counts them: the same counts, nulls and unseen
names as `CategoricalCounter.add` given `level_index` and the String column.

Only columns whose values are those a scan gives as text are coded: strings (any Arrow string
type) and Int8 (how the store keeps binary predictions), whose text is the decimal form
polars casts them to (a table of the 256 values maps them). Other types keep the String ->
Enum cast (`codable`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import polars as pl
import pyarrow as pa

from evalctl.errors import StoreError
from evalctl.stats.binning import CategoricalBins

CODE = "__code__"  # prefix of a coded categorical feature's code column in a batch


def codable(dtype: pa.DataType) -> bool:
    """Whether a column of this Arrow type can be coded (`LevelCodes`)."""
    return (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
            or pa.types.is_string_view(dtype) or dtype == pa.int8())


class _Coder:
    """One column's codes: the known levels' slots and the unseen levels met so far."""

    def __init__(self, bins: CategoricalBins) -> None:
        known = sorted(bins.known)
        self.slots = {level: slot for slot, level in enumerate(known)}
        self.null = len(known)
        self.names: list[str] = []
        self._unseen: dict[str, int] = {}
        self._bytes: np.ndarray | None = None  # an Int8 column's code per value + 128

    def code(self, level: str) -> int:
        slot = self.slots.get(level)
        if slot is not None:
            return slot
        at = self._unseen.get(level)
        if at is None:
            at = self._unseen[level] = len(self.names)
            self.names.append(level)
        return self.null + 1 + at

    def codes(self, array: pa.Array) -> np.ndarray:
        """The code of each value of `array` (a dictionary array of strings, or Int8)."""
        if pa.types.is_dictionary(array.type):
            dictionary = array.dictionary.to_pylist()
            mapped = np.array([self.code(v) for v in dictionary] + [self.null], dtype=np.int32)
            return mapped[_filled(array.indices, len(dictionary))]
        if self._bytes is None:  # text as polars casts it: the decimal form
            self._bytes = np.array([self.code(str(v)) for v in range(-128, 128)]
                                   + [self.null], dtype=np.int32)
        values = pl.from_arrow(array)
        assert isinstance(values, pl.Series)
        return self._bytes[(values.cast(pl.Int16) + 128).fill_null(256).to_numpy()]


def _filled(indices: pa.Array, null: int) -> np.ndarray:
    """Dictionary indices as an integer array, a null as `null`."""
    series = pl.from_arrow(indices)
    assert isinstance(series, pl.Series)
    return series.fill_null(null).to_numpy() if series.null_count() else series.to_numpy()


class LevelCodes:
    """The code columns of coded categorical features (`CODE` + feature) for the rows of a
    stream of Arrow record batches (one data file's rows, in order), handed out in the row
    counts the consumer's batches have (`take`), and each feature's unseen names (`names`)."""

    def __init__(self, bins: Mapping[str, CategoricalBins], batches: Iterator[pa.RecordBatch]
                 ) -> None:
        self._coders = {f: _Coder(b) for f, b in bins.items()}
        self._batches = batches
        self._held: list[tuple[int, dict[str, np.ndarray]]] = []  # coded, not yet taken
        self._rows = 0

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self._coders)

    @property
    def names(self) -> dict[str, list[str]]:
        """Each feature's unseen levels, by code - K - 1 (grows as batches are coded)."""
        return {f: c.names for f, c in self._coders.items()}

    def take(self, rows: int) -> pl.DataFrame:
        """The codes of the next `rows` rows. A stream shorter than the rows asked for means
        the file changed under the reader: StoreError."""
        while self._rows < rows:
            batch = next(self._batches, None)
            if batch is None:
                raise StoreError("a data file ended before its rows were profiled "
                                 "(changed while read?); run `evalctl doctor`")
            self._held.append((batch.num_rows, {f: c.codes(batch.column(f))
                                                for f, c in self._coders.items()}))
            self._rows += batch.num_rows
        out: dict[str, list[np.ndarray]] = {f: [np.zeros(0, dtype=np.int32)]
                                            for f in self._coders}
        wanted = rows
        while wanted:
            size, first = self._held[0]
            used = min(size, wanted)
            for f, codes in first.items():
                out[f].append(codes[:used])
            if used == size:
                self._held.pop(0)
            else:
                self._held[0] = (size - used, {f: c[used:] for f, c in first.items()})
            wanted -= used
        self._rows -= rows
        return pl.DataFrame([pl.Series(CODE + f, parts[-1] if len(parts) == 2 else
                                       np.concatenate(parts))
                             for f, parts in out.items()])

    def finish(self) -> None:
        """Check that the stream held no rows past those taken (else StoreError)."""
        if self._rows or next(self._batches, None) is not None:
            raise StoreError("a data file holds more rows than were profiled (changed while "
                             "read?); run `evalctl doctor`")
