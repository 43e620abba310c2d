"""Agreement with the independent `sliceline` package (DataDome's Slicefinder) on the same data.

Both one-hot encode the same categorical columns and use the same alpha, k, max level and
minimum support; the features are independent, so no conjunction repeats a parent's rows (we
drop those, sliceline keeps them).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evalctl.slicing import discover_slices

sliceline = pytest.importorskip("sliceline")


def make_frame(seed: int, n: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {
        "a": rng.choice(["a0", "a1", "a2"], n),
        "b": rng.choice(["b0", "b1", "b2", "b3"], n),
        "c": rng.choice(["c0", "c1", "c2"], n, p=[0.5, 0.3, 0.2]),
        "d": rng.choice(["d0", "d1"], n),
    }
    rate = 0.1 + 0.3 * ((cols["a"] == "a1") & (cols["b"] == "b2")) + 0.1 * (cols["c"] == "c2")
    return pl.DataFrame({**cols, "err": (rng.random(n) < rate).astype(float)})


@pytest.mark.parametrize(("seed", "alpha", "k", "max_level", "min_support"),
                         [(0, 0.95, 5, 2, 32), (1, 0.95, 10, 3, 20), (2, 0.9, 4, 3, 50)])
def test_same_slices_as_sliceline(seed: int, alpha: float, k: int, max_level: int,
                                  min_support: int) -> None:
    df = make_frame(seed)
    names = ["a", "b", "c", "d"]
    finder = sliceline.Slicefinder(alpha=alpha, k=k, max_l=max_level, min_sup=min_support,
                                   verbose=False)
    finder.fit(df.select(names).to_numpy(), df["err"].to_numpy())
    theirs = [
        "&".join(f"{name}={value}" for name, value in zip(names, row, strict=True)
                 if value is not None)
        for row in finder.top_slices_
    ]
    their_scores = [s["slice_score"] for s in finder.top_slices_statistics_]
    ours = discover_slices(df, dict.fromkeys(names, "categorical"), "err", alpha=alpha, k=k,
                           max_level=max_level, min_support=min_support)
    assert ours.slices and ours.slices[0].id == theirs[0]
    assert [s.id for s in ours.slices] == theirs  # the whole top K, in the same order
    assert [s.score for s in ours.slices] == pytest.approx(their_scores, rel=1e-12)
