"""Categorical level codes from Arrow dictionary arrays: the level lookup once per dictionary
entry, not once per value.

`summarize` gives each row of a categorical column its index among the reference's sorted
known levels with polars' String -> Enum cast (`evalctl.stats.counters.level_index`): a hash
of every value, ~20 ns each, a fifth of what profiling a data file costs. A Parquet file
already stores such a column as a dictionary and, per row, an index into it; read that way
(pyarrow's ``read_dictionary``), the lookup runs once per dictionary entry (a few hundred a
row group) and each row's code is one numpy gather of the small mapped dictionary.

Each row gets an *entry* (`LevelCodes.take`): its index among the dictionary values of the
arrays read so far (plus a null per array), with no per-row lookup. `LevelCodes.tables`
gives each entry's *code*: ``0 .. K-1`` its index among the K sorted known levels, ``K`` a
null, ``K + 1 + j`` the unseen level `names[j]` (each unseen level once, in the order first
met). `CategoricalCounter.add_entries` counts the rows per entry, then per code (a
`bincount` over the small table): the same counts, nulls and unseen names as
`CategoricalCounter.add` given `level_index` and the String column.

Entries are intp, the type `bincount` counts without converting, and a batch's entries are
handed out as views of the arrays coded from the record batches it spans (`Entries`), never
copied into one array: counts are integers, so counting the pieces one by one gives exactly
the counts of the whole (a copy into one polars column per feature, then a conversion by
`bincount`, was ~0.04 s of CPU per 1M rows profiled).

Only columns whose values are those a scan gives as text are coded: strings (any Arrow string
type) and Int8 (how the store keeps binary predictions), whose text is the decimal form
polars casts them to (a table of the 256 values maps them). Other types keep the String ->
Enum cast (`codable`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from evalctl.errors import StoreError
from evalctl.stats.binning import CategoricalBins

if TYPE_CHECKING:  # imported on use: `summarize`, and so every command, imports this module
    import pyarrow as pa

def codable(dtype: pa.DataType) -> bool:
    """Whether a column of this Arrow type can be coded (`LevelCodes`)."""
    import pyarrow as pa

    return (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
            or pa.types.is_string_view(dtype) or dtype == pa.int8())


_LOOKED_UP_ONE_BY_ONE = 32  # dictionary values at most (`_Coder._dictionary_codes`)


class _Coder:
    """One column's entries (`LevelCodes`): the known levels' slots, the unseen levels met
    so far and the table of every entry's code."""

    def __init__(self, bins: CategoricalBins) -> None:
        known = sorted(bins.known)
        self.known = known
        self.slots = {level: slot for slot, level in enumerate(known)}
        self.null = len(known)
        self._value_sets: dict[Any, pa.Array] = {}  # the known levels, by dictionary type
        self.names: list[str] = []
        self._unseen: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []  # the codes of the entries, a chunk per array
        self._size = 0
        self._table: np.ndarray | None = None
        self._int8: int | None = None  # where the 257 entries of Int8 values start

    @property
    def table(self) -> np.ndarray:
        """The code of every entry handed out so far."""
        if self._table is None or self._table.size < self._size:
            self._table = np.concatenate(self._chunks) if len(self._chunks) > 1 else \
                self._chunks[0] if self._chunks else np.zeros(0, dtype=np.int32)
        return self._table

    def code(self, level: str) -> int:
        slot = self.slots.get(level)
        if slot is not None:
            return slot
        at = self._unseen.get(level)
        if at is None:
            at = self._unseen[level] = len(self.names)
            self.names.append(level)
        return self.null + 1 + at

    def _add(self, codes: list[int] | np.ndarray) -> int:
        """Add entries with these codes to the table; returns the first one's index."""
        base = self._size
        self._chunks.append(np.asarray(codes, dtype=np.int32))
        self._size += len(codes)
        return base

    def _dictionary_codes(self, dictionary: pa.Array) -> np.ndarray:
        """The code of each dictionary value and then of a null: the known levels' slots
        looked up by pyarrow's `index_in` (one call, not a Python lookup per value: a
        dictionary holds up to a row group's distinct values, 1,000 in the benchmark's
        widest feature), the few others by `code`, in order (an unseen name's code is
        given when first met). A small dictionary (most features': a few levels) is looked
        up value by value: `index_in` costs ~8 µs a call whatever the size (it hashes the
        known levels each time), a lookup ~0.1 µs a value."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(dictionary) <= _LOOKED_UP_ONE_BY_ONE:
            return np.array([*map(self.code, dictionary.to_pylist()), self.null],
                            dtype=np.int32)
        if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
            dictionary = dictionary.cast(pa.large_string())  # string_view: no `index_in`
        value_set = self._value_sets.get(dictionary.type)
        if value_set is None:
            # through polars, not `pa.array` of a list: pyarrow's first conversion from
            # Python objects imports pandas where it is installed (~0.18 s of CPU)
            value_set = self._value_sets[dictionary.type] = \
                pl.Series(self.known, dtype=pl.String).to_arrow().cast(dictionary.type)
        slots = pc.index_in(dictionary, value_set=value_set)
        codes = np.empty(len(dictionary) + 1, dtype=np.int32)
        codes[-1] = self.null
        codes[:-1] = integers(slots, -1)  # not known: -1, then coded one by one
        if slots.null_count:
            for at in np.flatnonzero(codes[:-1] < 0).tolist():  # in order: unseen names
                codes[at] = self.code(dictionary[at].as_py())
        return codes

    def entries(self, array: pa.Array) -> np.ndarray:
        """The entry of each value of `array` (a dictionary array of strings, or Int8): a
        dictionary's entries are its values and a null; Int8's the 256 values and a null."""
        import pyarrow as pa

        if pa.types.is_dictionary(array.type):
            dictionary = array.dictionary
            base = self._add(self._dictionary_codes(dictionary))
            indices = integers(array.indices, len(dictionary), np.intp)
            indices += base
            return indices
        if self._int8 is None:  # text as polars casts it: the decimal form
            self._int8 = self._add([self.code(str(v)) for v in range(-128, 128)]
                                   + [self.null])
        # by numpy, not through a polars Series (~4 polars calls an array of 30k rows): a
        # value v is entry v + 128, a null entry 256
        values = integers(array, 128, np.intp)
        values += 128 + self._int8
        return values


def integers(array: pa.Array, null: int, dtype: Any = None) -> np.ndarray:
    """An Arrow integer array's values as a numpy array (of its own type, or `dtype`), a null
    as `null`, read from its buffers (~11 µs an array of 30k rows, against ~75 µs through a
    polars Series; 600 arrays per 1M rows profiled). Not by pyarrow's `to_numpy` (nor
    `fill_null`): their first call imports pandas where pandas is installed, ~0.18 s of CPU
    of every ingest that profiles."""
    import pyarrow as pa

    kind = array.type
    if not pa.types.is_integer(kind):
        raise TypeError(f"not an integer array: {kind}")
    own = np.dtype(f"{'i' if pa.types.is_signed_integer(kind) else 'u'}{kind.bit_width // 8}")
    validity, data = array.buffers()[:2]
    size, offset = len(array), array.offset
    values = np.frombuffer(data, dtype=own, count=size, offset=offset * own.itemsize) \
        if data is not None else np.zeros(size, dtype=own)
    values = values.astype(dtype if dtype is not None else own)
    if array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little",
                              count=offset + size)[offset:].view(bool)
        values[~valid] = null
    return values


class Entries:
    """The entries of some consecutive rows (`LevelCodes.take`), per coded feature, in
    pieces: one per record batch the rows span, each piece its row count and each feature's
    entries (views of the arrays coded from that batch)."""

    def __init__(self, features: Sequence[str],
                 pieces: list[tuple[int, dict[str, np.ndarray]]]) -> None:
        self.features, self.pieces = tuple(features), pieces

    def of(self, feature: str) -> list[np.ndarray]:
        """A feature's entries, piece by piece."""
        return [entries[feature] for _, entries in self.pieces]

    def slice(self, start: int, length: int) -> Entries:
        """The entries of the rows ``start .. start + length - 1`` (views)."""
        pieces = []
        for size, entries in self.pieces:
            if start >= size:
                start -= size
                continue
            if length <= 0:
                break
            used = min(size - start, length)
            pieces.append((used, {f: e[start:start + used] for f, e in entries.items()}))
            start, length = 0, length - used
        return Entries(self.features, pieces)

    def gather(self, rows: np.ndarray) -> Entries:
        """The entries of the rows at the indices `rows` (a copy, in one piece)."""
        whole = {f: np.concatenate(self.of(f)) if self.pieces else np.zeros(0, dtype=np.intp)
                 for f in self.features}
        return Entries(self.features, [(rows.size, {f: e[rows] for f, e in whole.items()})])


class LevelCodes:
    """The entries of coded categorical features for the rows of a stream of Arrow record
    batches (one data file's rows, in order), handed out in the row counts the consumer's
    batches have (`take`), and each feature's table of entry codes and unseen names
    (`tables`)."""

    def __init__(self, bins: Mapping[str, CategoricalBins], batches: Iterator[pa.RecordBatch],
                 source: str | None = None) -> None:
        self._coders = {f: _Coder(b) for f, b in bins.items()}
        self._batches = batches
        self._source = source  # the data file read, named by its errors
        self._held: list[tuple[int, dict[str, np.ndarray]]] = []  # coded, not yet taken
        self._rows = 0

    @property
    def features(self) -> frozenset[str]:
        return frozenset(self._coders)

    @property
    def tables(self) -> dict[str, _Coder]:
        """Each feature's entry codes (`table`) and unseen levels (`names`, by code - K - 1),
        which grow as batches are read."""
        return dict(self._coders)

    def take(self, rows: int) -> Entries:
        """The entries of the next `rows` rows. A stream shorter than the rows asked for means
        the file changed under the reader: StoreError."""
        while self._rows < rows:
            batch = next(self._batches, None)
            if batch is None:
                raise self._error("a data file ended before its rows were profiled "
                                  "(changed while read?)")
            self._held.append((batch.num_rows, {f: c.entries(batch.column(f))
                                                for f, c in self._coders.items()}))
            self._rows += batch.num_rows
        held = Entries(list(self._coders), self._held)
        self._held = held.slice(rows, self._rows - rows).pieces
        self._rows -= rows
        return held.slice(0, rows)

    def finish(self) -> None:
        """Check that the stream held no rows past those taken (else StoreError)."""
        if self._rows or next(self._batches, None) is not None:
            raise self._error("a data file holds more rows than were profiled (changed "
                              "while read?)")

    def _error(self, problem: str) -> StoreError:
        where = f"{self._source}: " if self._source else ""
        return StoreError(f"{where}{problem}; run `evalctl doctor`", file=self._source)
