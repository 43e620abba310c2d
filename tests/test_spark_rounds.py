"""How `profiles build --engine spark` sizes its rounds (`SparkEngine.profile_round` read
through `build._Rounds`), without Spark: the engine's `profiles` is replaced by one that
returns profiles of given sizes, so every round's files and bytes are known. The same rounds
on a real session: `tests/test_spark.py::test_a_build_profiles_in_rounds_of_bounded_size`."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from evalctl.engines import spark as engine
from evalctl.engines.spark import FileTask, SparkEngine
from evalctl.lake.ledger import FileEntry
from evalctl.profiles.build import _Rounds


def _rounds(monkeypatch: pytest.MonkeyPatch, sizes: list[int]
            ) -> tuple[_Rounds, list[list[int]]]:
    """Rounds over files whose profiles are `sizes` bytes, and the sizes each round held."""
    tasks = [FileTask("v1", "production", FileEntry(f"f{n}", 1, 1, "", "2026-12-01"))
             for n in range(len(sizes))]
    size = {t.entry.path: s for t, s in zip(tasks, sizes, strict=True)}
    held: list[list[int]] = []

    def profiles(self: SparkEngine, root: Any, model: Any, binning: Any, granularity: str,
                 chosen: list[FileTask]) -> dict[str, bytes]:
        held.append([size[t.entry.path] for t in chosen])
        return {t.entry.path: bytes(size[t.entry.path]) for t in chosen}

    monkeypatch.setattr(SparkEngine, "profiles", profiles)
    spark = SparkEngine(session=object())  # never asked for: no round counts task slots
    return _Rounds(partial(spark.profile_round, None, None, None, "1d"), tasks), held


def test_no_round_holds_more_than_round_bytes_the_first_included(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles of 1,000 bytes under a 4,000-byte bound: the first round is one file (no
    size is known before it), every later one four; each file is profiled once, in order."""
    monkeypatch.setattr(engine, "ROUND_BYTES", 4000)
    rounds, held = _rounds(monkeypatch, [1000] * 11)
    assert [len(rounds[f"f{n}"]) for n in range(11)] == [1000] * 11
    assert held == [[1000], [1000] * 4, [1000] * 4, [1000] * 2]


def test_rounds_shrink_when_a_larger_profile_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round is sized on the largest profile seen before it (a model's profiles are alike
    in size); a larger one seen shrinks the rounds after it, down to one file a round when
    a profile is larger than the bound."""
    monkeypatch.setattr(engine, "ROUND_BYTES", 4000)
    rounds, held = _rounds(monkeypatch, [1000] * 4 + [2000] + [1000] * 3 + [5000, 1000])
    for n in range(10):
        rounds[f"f{n}"]
    assert held == [[1000], [1000, 1000, 1000, 2000], [1000, 1000], [1000, 5000], [1000]]
    monkeypatch.setattr(engine, "ROUND_FILES", 3)
    rounds, held = _rounds(monkeypatch, [10] * 7)
    for n in range(7):
        rounds[f"f{n}"]
    assert held == [[10], [10] * 3, [10] * 3]  # ROUND_FILES bounds rounds of small profiles
