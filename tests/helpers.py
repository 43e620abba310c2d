"""Helpers shared by the test files: configs, frame generators, a CLI runner, the JSON contract.

Test files import from here, never from one another or from conftest (which only defines the
fixtures, built on these helpers).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from evalctl.cli.app import run

REPO = Path(__file__).resolve().parents[1]
STORY_CONFIG = REPO / "configs" / "evalctl.yaml"
# the commands of `sample_data/demo.sh` that build the story's store: its ingests, in its order,
# with `profiles build` once the training data (all `reference: training` matches) is in
STORY_BUILD = frozenset({"ingest", "ingest-actuals", "profiles"})

CONFIG = """\
store: store
models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      age: numeric
      country: categorical
      minutes: numeric
    proxies: [clicked]
    slices:
      - feature: age
        bins: [0, 25, 40, 120]
      - feature: country
"""

# CONFIG plus a regression model `demand` (score, label, two features, sliced by country)
REGRESSION_CONFIG = CONFIG + """\
  demand:
    task: regression
    id: request_id
    timestamp: ts
    score: score
    label: label
    features: {age: numeric, country: categorical}
    slices:
      - feature: country
"""


def schema_registry() -> Any:
    """Every schema shipped in the package (evalctl/schemas/*.json), by its `$id`: `$schema`
    and `$ref`s resolve locally, without the network."""
    from importlib.resources import files

    from referencing import Registry, Resource

    folder = files("evalctl") / "schemas"
    resources = [Resource.from_contents(json.loads(f.read_text()))
                 for f in folder.iterdir() if f.name.endswith(".json")]
    return Registry().with_resources((r.id(), r) for r in resources)


def validate_envelope(doc: dict[str, Any]) -> None:
    """Validate a report or error envelope against the schema its `$schema` names (the
    command's own, which includes the envelope)."""
    import jsonschema

    registry = schema_registry()
    schema = registry.contents(doc["$schema"])
    jsonschema.Draft202012Validator(schema, registry=registry,
                                    format_checker=jsonschema.FormatChecker()).validate(doc)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The JSON report, validated against its command's schema (so every test that reads
        a report also checks the contract, on its own edge case)."""
        doc: dict[str, Any] = json.loads(self.stdout)
        validate_envelope(doc)
        return doc

    def no_report(self) -> bool:
        """Nothing but the JSON error envelope on stdout (a pipe gets JSON; an error writes
        `status: "error"` with the same exit code), and that envelope is valid."""
        envelope = json.loads(self.stdout)
        validate_envelope(envelope)
        return (envelope["status"] == "error" and envelope["results"] == []
                and envelope["error"]["exit_code"] == self.code)


def write_story_data(folder: Path) -> None:
    """The sample story's exports scaled down (seed 7, 600 rows a day, half scale), written
    by `sample_data/generate.py` into `folder`: what the `story` fixture and the demo test
    ingest."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sample_generate",
                                                  REPO / "sample_data" / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(folder, seed=7, rows_per_day=600, scale=0.5, verbose=False)


def demo_commands(data: str | Path, kept: Iterable[str]) -> list[list[str]]:
    """The evalctl commands of `sample_data/demo.sh` whose name is in `kept`, in its order,
    with `$M` expanded, `$DATA` replaced by `data` and the output options (`-f`, `--alerts`,
    `--output`, each with its value) left out; the monitor runs of its loop are skipped."""
    text = (REPO / "sample_data" / "demo.sh").read_text().replace("\\\n", " ")
    dropped = {"-f", "--format", "--alerts", "--output"}
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("evalctl ") or "$day" in line:
            continue
        line = line.split("||")[0].split(" | ")[0].replace("$M", "--model tv-recommender")
        args = [a.replace("$DATA", str(data)) for a in shlex.split(line)[1:]]
        if args[0] not in kept:
            continue
        found.append([a for n, a in enumerate(args) if a not in dropped and
                      (n == 0 or args[n - 1] not in dropped)])
    return found


def run_cli(*args: str) -> CliResult:
    """Run the CLI in-process exactly as the entry point does, capturing both streams."""
    out, err = io.StringIO(), io.StringIO()
    code = run([str(a) for a in args], stdout=out, stderr=err)
    return CliResult(code, out.getvalue(), err.getvalue())


def commands() -> list[str]:
    """Every command's path below `evalctl`, subcommands of groups included (`config check`)."""
    import typer

    from evalctl.cli.app import app

    def walk(command: Any, prefix: str) -> list[str]:
        subs = getattr(command, "commands", None)
        if not subs:
            return [prefix]
        return [p for name, sub in subs.items() for p in walk(sub, f"{prefix} {name}".strip())]

    return sorted(walk(typer.main.get_command(app), ""))


def make_frame(n: int = 200, seed: int = 0, start: datetime = datetime(2026, 11, 1),
               days: int = 4, prefix: str = "r") -> pl.DataFrame:
    """Predictions spread over ``days`` days, with some nulls in features."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    age = rng.integers(16, 80, n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    step = timedelta(days=days) / n
    return pl.DataFrame({
        "request_id": [f"{prefix}{i:05d}" for i in range(n)],
        "ts": [start + i * step for i in range(n)],
        "age": age,
        "country": rng.choice(["US", "BR", "DE"], n),
        "minutes": rng.gamma(2.0, 30.0, n),
        "score": score,
        "predicted_label": (score >= 0.5).astype(int),
        "label": (rng.random(n) < score).astype(int),
        "clicked": rng.integers(0, 2, n),
    }).with_columns(pl.col("age").fill_nan(None))


def store_snapshot(root: Path) -> dict[str, int]:
    """Every file below the store with its size (to prove a failed command changed nothing)."""
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in sorted(root.rglob("*")) if p.is_file()}


def missing_minutes(cli: Callable[..., CliResult], frame_file: Callable[..., Path],
                    share: float = 0.3) -> None:
    """Training as usual; production with `share` of `minutes` missing, values unchanged."""
    prod = make_frame(2000, seed=2, prefix="p")
    gone = pl.Series(np.random.default_rng(5).random(prod.height) < share)
    prod = prod.with_columns(pl.when(gone).then(None).otherwise(pl.col("minutes"))
                             .alias("minutes"))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(prod, "p.parquet")))


def warning_free(run: Callable[..., CliResult], *args: str) -> CliResult:
    """`run(*args, "-f", "json")` with every warning recorded: fails on a RuntimeWarning
    (naming where it was raised), on anything written to stderr and on an exit code other
    than 0 or 1 (a report was written); what the extreme-data sweeps run each command with."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(*args, "-f", "json")
    raised = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
              if issubclass(w.category, RuntimeWarning)]
    assert not raised, (args, raised)
    assert result.code in (0, 1) and result.stderr == "", (args, result.code, result.stderr)
    return result


RCA_CHURN = ["rca", "--model", "churn", "--baseline", "production@2026-11-01..2026-11-04",
             "--current", "production@2026-11-05..2026-11-08", "--format", "json"]


def write_window(frame_file: Callable[..., Path], cli: Callable[..., CliResult], n: int,
                 seed: int, start: datetime, *, young: float, noise: float = 0.0,
                 minutes_scale: float = 1.0, unit: float = 1.0, labelled: bool = True) -> None:
    """A window of the `churn` model: accuracy ~0.75, coin flips for the young (age < 25),
    plus `noise` (share of all labels randomised: concept drift); the young's minutes times
    `minutes_scale`, everybody's times `unit` (a unit bug)."""
    rng = np.random.default_rng(seed)
    is_young = rng.random(n) < young
    score = rng.random(n)
    label = np.where(is_young, rng.random(n) < 0.5, rng.random(n) < score)
    label = np.where(rng.random(n) < noise, rng.random(n) < 0.5, label).astype(int)
    minutes = rng.gamma(2.0, 30.0, n) * np.where(is_young, minutes_scale, 1.0) * unit
    frame = pl.DataFrame({
        "request_id": [f"s{seed}-{i}" for i in range(n)],
        "ts": np.datetime64(start, "us") + (np.arange(n) * (3 * 86_400_000_000 // n))
        .astype("timedelta64[us]"),
        "age": np.where(is_young, rng.integers(16, 25, n), rng.integers(25, 80, n)) * 1.0,
        "country": rng.choice(["US", "BR", "DE"], n), "minutes": minutes,
        "score": score, "predicted_label": (score >= 0.5).astype(int),
        "label": label if labelled else [None] * n, "clicked": rng.integers(0, 2, n)})
    path = frame_file(frame, f"w{seed}.parquet")
    assert cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
               path).code == 0


def shaped(command: str, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every key its result shape requires and it lacks set to None: hand-made rows
    for renderer tests (a `Report` refuses rows that do not fit their shape)."""
    from evalctl.reports.shapes import shape_for

    shape = shape_for(command, row.get("section"))
    return row | {key: None for key in sorted(shape.required - row.keys())}


# -- a multiclass model with its class probabilities (issue #21) ------------------------------

CARDS = {"prepaid_card": "p_prepaid", "highstreet_card": "p_highstreet",
         "upmarket_card": "p_upmarket"}
MULTICLASS_CONFIG = """\
  cards:
    task: multiclass_classification
    id: request_id
    timestamp: ts
    prediction: predicted_card
    scores: {prepaid_card: p_prepaid, highstreet_card: p_highstreet, upmarket_card: p_upmarket}
    label: card
    features:
      income: numeric
      channel: categorical
"""


def make_multiclass_frame(n: int = 600, seed: int = 0, start: datetime = datetime(2026, 11, 1),
                          days: int = 4, prefix: str = "m", drift: bool = False
                          ) -> pl.DataFrame:
    """The `cards` model's predictions: softmax probabilities of the income (rounded to 4
    places, summing to 1), the most probable class predicted, the label drawn from the
    probabilities (calibrated by construction) or, with ``drift``, from the probabilities of
    the next class (P(label | probabilities) changed: concept drift)."""
    rng = np.random.default_rng(seed)
    income = rng.gamma(3.0, 15.0, n)
    logits = np.column_stack([2.0 - income / 15, np.zeros(n), income / 20 - 2.5])
    logits += rng.normal(0.0, 1.0, (n, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = np.round(probs, 4)
    probs[:, 1] = np.clip(1.0 - probs[:, 0] - probs[:, 2], 0.0, 1.0)
    draw = np.roll(probs, 1, axis=1) if drift else probs
    label = (rng.random(n)[:, None] > np.cumsum(draw, axis=1)).sum(axis=1).clip(0, 2)
    names = np.array(list(CARDS))
    step = timedelta(days=days) / n
    return pl.DataFrame({
        "request_id": [f"{prefix}{i:05d}" for i in range(n)],
        "ts": [start + i * step for i in range(n)],
        "income": income, "channel": rng.choice(["web", "branch", "app"], n),
        "predicted_card": names[probs.argmax(axis=1)], "card": names[label],
        **{column: probs[:, k] for k, column in enumerate(CARDS.values())},
    })


# -- HTML reports (tests/test_html*.py) ---------------------------------------------------------
LATE_STORY = "production@2026-11-15..2026-11-30"
# one page per report type of the sample story: (name, arguments after the global options)
STORY_PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("skew", ("skew", "-m", "tv-recommender", "--current", LATE_STORY)),
    ("drift", ("drift", "-m", "tv-recommender", "--current",
               "production@2026-11-01..2026-11-30", "--window", "1d")),
    ("slices", ("slices", "-m", "tv-recommender", "--selector", LATE_STORY, "--discover")),
    ("validate", ("validate", "-m", "tv-recommender", "--candidate", "v2", "--baseline", "v1")),
    ("compare", ("compare", "-m", "tv-recommender", "--champion", "v1", "--challenger", "v2",
                 "--selector", "production@2026-11-01..2026-11-25")),
    ("rca", ("rca", "-m", "tv-recommender", "--baseline", "production@2026-11-01..2026-11-14",
             "--current", "production@2026-11-15..2026-11-25")),
    ("estimate", ("estimate", "-m", "tv-recommender", "--current",
                  "production@2026-11-20..2026-11-30")),
    ("monitor", ("monitor", "-m", "tv-recommender", "--date", "2026-11-30")),
    ("history", ("history", "-m", "tv-recommender")),
    ("report", ("report", "-m", "tv-recommender", "--current", LATE_STORY)),
]


@dataclass
class Page:
    """What a test needs of an HTML report: its tags, the ids, the `<svg>`s with their
    `<title>`s, the attribute values that could reference something, the embedded JSON."""

    text: str
    tags: list[str]
    ids: list[str]
    svg_titles: list[str]
    references: list[str]
    envelope: dict[str, Any]
    scripts: int


def parse_page(text: str) -> Page:
    """Parse an evalctl HTML page with the standard library's parser, checking on the way
    that every element it opens is closed in order (void elements aside)."""
    from html.parser import HTMLParser

    void = {"meta", "br", "img", "input", "link", "hr", "col", "wbr", "source"}
    svg_leaves = {"rect", "line", "circle", "path", "polyline", "polygon"}

    class Parser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.stack: list[str] = []
            self.tags: list[str] = []
            self.ids: list[str] = []
            self.titles: list[str] = []
            self.refs: list[str] = []
            self.json_text: list[str] = []
            self.scripts = 0
            self.json_open = False
            self._title_in_svg = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            values = dict(attrs)
            if values.get("id"):
                self.ids.append(str(values["id"]))
            self.refs += [str(v) for k, v in attrs if k in ("src", "href", "style") and v]
            if tag == "script":
                self.scripts += 1
                self.json_open = values.get("id") == "evalctl-report"
            if tag == "title" and self.stack and self.stack[-1] == "svg":
                self._title_in_svg = True
                self.titles.append("")
            if tag not in void:
                self.stack.append(tag)

        def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            assert tag in svg_leaves | void, f"self-closed <{tag}/>"

        def handle_endtag(self, tag: str) -> None:
            assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
            self.stack.pop()
            self._title_in_svg = False

        def handle_data(self, data: str) -> None:
            if self._title_in_svg:
                self.titles[-1] += data
            if self.stack and self.stack[-1] == "script" and self.json_open:
                self.json_text.append(data)

    parser = Parser()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed elements {parser.stack}"
    envelope = json.loads("".join(parser.json_text)) if parser.json_text else {}
    return Page(text, parser.tags, parser.ids, parser.titles, parser.refs, envelope,
                parser.scripts)


def wide_frame(n: int, features: int, seed: int, shift: float = 0.0,
               prefix: str = "r") -> pl.DataFrame:
    """`features` columns (two numeric for each categorical, 12 levels) over 4 days."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {"request_id": [f"{prefix}{i:06d}" for i in range(n)],
                               "ts": [datetime(2026, 11, 1) + i * timedelta(days=4) / n
                                      for i in range(n)]}
    for j in range(features):
        if j % 3 == 2:
            levels = [f"level_{k}" for k in range(12)]
            weights = np.linspace(1.0, 1.0 + shift * (j % 5), 12)
            columns[f"c{j:02d}"] = rng.choice(levels, n, p=weights / weights.sum())
        else:
            columns[f"n{j:02d}"] = rng.normal(shift * (j % 4), 1.0 + (j % 3), n).round(2)
    score = rng.random(n)
    columns |= {"score": score, "predicted_label": (score >= 0.5).astype(int),
                "label": (rng.random(n) < score).astype(int)}
    return pl.DataFrame(columns)


def wide_config(frame: pl.DataFrame) -> str:
    """A config naming every column of `wide_frame` as a feature of model `wide`."""
    features = "\n".join(f"      {c}: {'categorical' if c.startswith('c') else 'numeric'}"
                         for c in frame.columns if c[0] in "nc" and c[1:].isdigit())
    return ("store: store\nmodels:\n  wide:\n    task: binary_classification\n"
            "    id: request_id\n    timestamp: ts\n    prediction: predicted_label\n"
            "    score: score\n    label: label\n    features:\n" + features + "\n")


CHROMIUM = Path("/usr/bin/chromium")
# hosts Chromium itself calls (updates, time, accounts) even with background networking off
CHROMIUM_OWN_HOSTS = re.compile(r"^https?://[^/]*(google\.com|googleapis\.com|gvt1\.com|"
                                r"gstatic\.com|chromium\.org)(/|$| )")


@dataclass
class BrowserRun:
    """A page loaded by headless Chromium: its DOM after scripts ran, the console lines it
    logged, the http(s) URLs it requested (its own, not Chromium's), and the screenshot."""

    dom: str
    console: list[str]
    requests: list[str]
    screenshot: bytes


def load_in_chromium(page: Path, work: Path, width: int = 900, height: int = 1000
                     ) -> BrowserRun:
    """Open `page` from a file:// URL, offline (every request goes to a dead proxy), twice:
    once dumping the DOM with console logging and a network log, once for a screenshot."""
    import subprocess

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--proxy-server=127.0.0.1:9", "--hide-scrollbars",
             f"--window-size={width},{height}", "--force-device-scale-factor=1"]
    url = page.resolve().as_uri()
    net = work / "net.json"
    dump = subprocess.run(
        [str(CHROMIUM), *flags, f"--user-data-dir={work / 'profile-dom'}",
         "--enable-logging=stderr", "--v=0", f"--log-net-log={net}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True)
    console = [line for line in dump.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    urls = set(re.findall(r'"(https?://[^"\\]+)', net.read_text(errors="replace")))
    requests = sorted(u for u in urls if not CHROMIUM_OWN_HOSTS.match(u))
    shot = work / "shot.png"
    subprocess.run([str(CHROMIUM), *flags, f"--user-data-dir={work / 'profile-shot'}",
                    f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)
    return BrowserRun(dump.stdout, console, requests, shot.read_bytes())


def read_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG (what Chromium writes) as an array (height, width, channels):
    chunks, zlib, and the five row filters of the PNG spec."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if kind == 1:  # sub: a running sum per channel
            line = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # up
            line = (line + prev) % 256
        elif kind in (3, 4):  # average, paeth: each byte needs the one before it
            row = line.tolist()
            up = prev.tolist()
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                if kind == 3:
                    row[i] = (row[i] + (left + up[i]) // 2) % 256
                    continue
                corner = up[i - bpp] if i >= bpp else 0
                p = left + up[i] - corner
                pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
                row[i] = (row[i] + pred) % 256
            line = np.asarray(row, dtype=np.int32)
        out[y] = line
        prev = line
    return out.reshape(height, width, bpp)


def estimate_windows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """`estimate`'s window results (long format: one per window and metric) regrouped: one
    per window, oldest first: its headline row (the summary's metric) with `by_metric`, every
    metric's row of the window keyed by metric."""
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for row in doc["results"]:
        if row.get("section") == "windows":
            grouped.setdefault(row["window_start"], {})[row["metric"]] = row
    metric = doc["summary"]["metric"]
    return [grouped[start][metric] | {"by_metric": grouped[start]} for start in sorted(grouped)]


# the profile tests' model: {reference} its `reference:`, {extra} lines before `features:`,
# {checks} lines after them (each "" for none)
PROFILED_CONFIG = """\
store: store
models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    reference: {reference}
{extra}    features:
      age: numeric
      country: categorical
      minutes: numeric
{checks}"""



def fitted_store(cli: Callable[..., CliResult], workdir: Path,
                 frame_file: Callable[..., Path]) -> Path:
    """`PROFILED_CONFIG`'s model (churn, reference training:v1) with a training batch of
    1,500 rows and its reference fitted (daily profiles); returns the store's root."""
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))
    assert cli("ingest", str(frame_file(make_frame(1500, seed=1, prefix="t"), "t.parquet")),
               "--model", "churn", "--version", "v1", "--env", "training").code == 0
    assert cli("profiles", "build", "--model", "churn").code == 0
    return workdir / "store"

# the Spark tests' model ({engine}: an optional top-level `engine:` block, or "")
SPARK_CONFIG = """\
store: store
{engine}models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    reference: training:v1
    features:
      age: numeric
      country: categorical
      minutes: numeric
"""


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-12 (relative), everything else exactly (counts bit for bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    else:
        assert a == b, path


def batch_frames(store: Any) -> dict[str, pl.DataFrame]:
    """Each live batch of a store (an `evalctl.lake.store.Store`, local or s3://) as one
    frame: its files read in ledger order (how a batch is cut into files may differ, its
    rows may not)."""
    frames = {}
    for record in store.records:
        paths = [store.storage.url(f.path) for f in record.files]
        frames[record.batch] = store.scan_files(paths).collect()
    return frames


def spark_session(master: str, name: str, **conf: str) -> Iterator[Any]:
    """A Spark session on `master` (the extra and Java checked first, executors on this
    interpreter), without its UI or progress bars, stopped when the caller's fixture ends:
    `yield from spark_session("local[2,3]", "evalctl-tests")`."""
    from evalctl.engines.spark import python_for_workers, require_spark

    require_spark()
    python_for_workers()
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


def spark_exports(story_data: Path, folder: Path) -> pl.DataFrame:
    """Copy the story's exports (`story_data`) into `folder` and add production v1 again,
    shuffled, as a Parquet file of many row groups (`production_v3.parquet`: a Spark ingest
    cuts it into several tasks that share dates); production v1 as read, for more."""
    for name in story_data.iterdir():
        shutil.copy(name, folder / name.name)
    production = pl.read_csv(folder / "production_v1.csv", infer_schema=False)
    (production.sample(fraction=1.0, shuffle=True, seed=3)
     .write_parquet(folder / "production_v3.parquet", row_group_size=1500))
    return production


def normal(value: Any) -> Any:
    """Summaries (dataclasses holding numpy cell arrays) as plain dicts and lists, an empty
    cell's NaN as "nan" (equal to itself), for `assert_same` and `==`."""
    if hasattr(value, "__dataclass_fields__"):
        return normal(asdict(value))
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return normal(value.tolist())
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def reported_at_exit(args: list[str], folder: Path, probe: str, prefix: str,
                     without: Iterable[str] = (), **env: str) -> list[str]:
    """Run `args` (a real interpreter) in `folder` with `probe` as its `sitecustomize`: code
    that prints lines starting with `prefix` to stderr, typically at exit. Returns the rest of
    each such line. `without`: variables taken out of this process's environment; `env`:
    variables added. The process must succeed."""
    (folder / "sitecustomize.py").write_text(probe)
    dropped = set(without)
    environ = {k: v for k, v in os.environ.items() if k not in dropped}
    environ |= {"PYTHONPATH": str(folder), **env}
    done = subprocess.run(args, cwd=folder, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return [line.removeprefix(prefix) for line in done.stderr.splitlines()
            if line.startswith(prefix)]
