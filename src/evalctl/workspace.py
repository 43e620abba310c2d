"""`evalctl.open()`: a config, a store and a clock, with one method per command.

A `Workspace` takes what people write (model names, selector strings such as
``production@last-7d``) as well as parsed objects (`ModelConfig`, `Selector`), resolves feature
kinds against the store, and calls the `evalctl.api` function the CLI command calls. The CLI
commands call these methods: one code path.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from evalctl import api
from evalctl.analyses.report import HealthRequest, health_report
from evalctl.clock import Clock, now, system_clock
from evalctl.config import STORE_ENV, Config, ModelConfig
from evalctl.errors import EvalctlError, InputError
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.storage import is_object_url
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.settings.load import load_config

if TYPE_CHECKING:
    from evalctl.analyses.monitor import MonitorOutcome
    from evalctl.engines.spark import SparkEngine

P = ParamSpec("P")
R = TypeVar("R")
ModelRef = str | ModelConfig
SelectorRef = str | Selector


def open_workspace(config: Config | str | Path | None = None,
                   store: Store | str | Path | None = None,
                   clock: Clock | None = None, *,
                   storage_options: Mapping[str, str] | None = None) -> Workspace:
    """Open a workspace the way the CLI does.

    ``config``: a path, a loaded `Config`, or None to look for ``$EVALCTL_CONFIG``,
    ``./evalctl.yaml``, then ``./configs/evalctl.yaml``. ``store``: a path, an
    ``s3://bucket/prefix`` URL or an open `Store`; None means ``$EVALCTL_STORE``, then the
    config's ``store:``. ``storage_options``: for an ``s3://`` store and ``s3://`` input
    exports (into any store), object_store keys (``aws_endpoint_url``, ``aws_region``,
    ``aws_allow_http``...) over the AWS environment; None means the config's
    ``storage_options:``. ``clock``: what "now" is (default the system
    clock, in UTC). Raises `InputError` when no store is given or the folder is not a store,
    `ConfigError` for a bad config, `StoreError` for a newer store or one that cannot be
    reached.
    """
    if isinstance(store, Store):
        return Workspace(store, config, clock, storage_options=storage_options)
    root: str | Path | None = store or os.environ.get(STORE_ENV) or None
    if root is None:
        if not isinstance(config, Config):
            config = load_config(config)
        root = config.store
    if root is None:
        raise InputError("no store given: pass --store (evalctl.open(store=...)), set "
                         f"{STORE_ENV}, or set `store:` in evalctl.yaml / configs/evalctl.yaml")
    given = storage_options
    if storage_options is None and is_object_url(root):
        if not isinstance(config, Config):
            config = load_config(config)
        storage_options = config.storage_options
    return Workspace(Store.open(root, storage_options), config, clock, storage_options=given)


def _traced(method: Callable[P, R]) -> Callable[P, R]:
    """A read that failed because a committed file is damaged raises StoreError naming the
    file (exit 3 at the CLI), not the raw polars or OS error; other failures pass through."""

    @functools.wraps(method)
    def traced(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except EvalctlError:
            raise
        except Exception as exc:
            workspace = args[0]
            assert isinstance(workspace, Workspace)
            damage = workspace.store.damage_behind(exc)
            if damage is not None:
                raise damage from exc
            raise

    return traced


class Workspace:
    """An open store, its config (loaded when first needed) and a clock."""

    def __init__(self, store: Store, config: Config | str | Path | None = None,
                 clock: Clock | None = None, *,
                 storage_options: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.clock: Clock = clock or system_clock
        self._config_source = config
        self._config = config if isinstance(config, Config) else None
        self._storage_options = storage_options

    def __repr__(self) -> str:
        return f"Workspace(store={self.store.location!r})"

    @property
    def config(self) -> Config:
        """The config, loaded (and validated) on first use."""
        if self._config is None:
            source = self._config_source
            self._config = load_config(source if not isinstance(source, Config) else None)
        return self._config

    @property
    def storage_options(self) -> Mapping[str, str]:
        """What ``s3://`` exports are read with (over the AWS environment): the options given
        to `open_workspace`, else the config's ``storage_options:``, whatever the store."""
        if self._storage_options is not None:
            return self._storage_options
        return self.config.storage_options

    # -- resolving names --------------------------------------------------------------------
    def model(self, model: ModelRef) -> ModelConfig:
        """A model of the config by name (or as given), with its feature kinds resolved
        against the store."""
        if isinstance(model, str):
            if self.config.path is None and not self.config.models:
                raise InputError(f"--model {model}: no config found (pass --config or "
                                 "evalctl.open(config=...), set EVALCTL_CONFIG, or create "
                                 "evalctl.yaml)")
            model = self.config.model(model)
        return self.store.resolve_model(model)

    def selector(self, selector: SelectorRef, as_of: date | None = None) -> Selector:
        """Parse a selector; ``last-Nd`` counts back from ``as_of``, else the clock's UTC
        date. A `Selector` is already parsed and is returned as it is."""
        if isinstance(selector, Selector):
            return selector
        return parse_selector(selector, as_of=as_of, clock=self.clock)

    def _stamped(self, report: Report) -> Report:
        if report.generated_at is None:
            report.generated_at = now(self.clock)
        return report

    # -- questions ---------------------------------------------------------------------------
    @_traced
    def skew(self, model: ModelRef, current: SelectorRef, reference: SelectorRef = "training",
             *, join_key: str | None = None, as_of: date | None = None,
             engine: str = "auto", spark: Any = None) -> Report:
        """`evalctl skew`: training/serving skew between two selections. `spark`: a running
        SparkSession a scan runs on (left running)."""
        with self._spark(engine, spark) as on:
            return self._stamped(api.skew(self.store, self.model(model),
                                          self.selector(reference, as_of),
                                          self.selector(current, as_of), join_key=join_key,
                                          engine=engine, spark=on))

    @_traced
    def drift(self, model: ModelRef, current: SelectorRef, reference: SelectorRef = "training",
              *, window: str | None = None, windows: int | None = None,
              min_rows: int | None = None, as_of: date | None = None,
              multivariate: bool = False, engine: str = "auto", spark: Any = None) -> Report:
        """`evalctl drift`: every column window by window, with onset (and, with
        `multivariate`, a classifier two-sample test per window). `spark`: a running
        SparkSession a scan runs on (left running)."""
        with self._spark(engine, spark) as on:
            return self._stamped(api.drift(self.store, self.model(model),
                                           self.selector(reference, as_of),
                                           self.selector(current, as_of), window=window,
                                           windows=windows, min_rows=min_rows,
                                           multivariate=multivariate, engine=engine,
                                           spark=on))

    @contextlib.contextmanager
    def _spark(self, engine: str, session: Any) -> Iterator[SparkEngine | None]:
        """The Spark engine of a report (None: local); a session it started is stopped."""
        on = None
        if engine in ("auto", "spark") and (session is not None or engine == "spark"
                                            or self.config.engine.kind == "spark"):
            # start-up time: the Spark engine loads only when a report may run on it
            from evalctl.engines.spark import spark_engine

            on = spark_engine(self.config.engine, engine, session)
        try:
            yield on
        finally:
            if on is not None:
                on.close()

    @_traced
    def slices(self, model: ModelRef, selector: SelectorRef, *,
               compare_to: SelectorRef | None = None, metric: str | None = None,
               top: int = 10, min_size: int | None = None, fdr: float | None = None,
               discover: bool = False, alpha: float | None = None,
               max_level: int | None = None, min_support: float | None = None,
               error: str | None = None, as_of: date | None = None) -> Report:
        """`evalctl slices`: the slice leaderboard, worst first."""
        resolved = self.model(model)
        chosen = self.selector(selector, as_of)
        other = self.selector(compare_to, as_of) if compare_to is not None else None
        return self._stamped(api.slices(
            self.store, resolved, chosen, compare_to=other, metric=metric, top=top,
            min_size=min_size, fdr=fdr, discover=discover, alpha=alpha, max_level=max_level,
            min_support=min_support, error=error))

    @_traced
    def validate(self, model: ModelRef, *, candidate: str, baseline: str,
                 selector: SelectorRef = "validation", top: int = 0,
                 as_of: date | None = None) -> Report:
        """`evalctl validate`: the promotion gate, candidate vs baseline on the same rows."""
        return self._stamped(api.validate(self.store, self.model(model),
                                          self.selector(selector, as_of), candidate=candidate,
                                          baseline=baseline, top=top))

    @_traced
    def compare(self, model: ModelRef, selector: SelectorRef, *, champion: str,
                challengers: Sequence[str], metric: str | None = None, gate: bool = False,
                discover: bool = False, n_boot: int | None = None, seed: int = 0,
                as_of: date | None = None) -> Report:
        """`evalctl compare`: champion vs shadow challengers on the same traffic."""
        return self._stamped(api.compare(
            self.store, self.model(model), self.selector(selector, as_of), champion=champion,
            challengers=challengers, metric=metric, gate=gate, discover=discover,
            n_boot=n_boot, seed=seed))

    @_traced
    def rca(self, model: ModelRef, baseline: SelectorRef, current: SelectorRef, *,
            reference: SelectorRef | None = None, metric: str | None = None,
            top: int | None = None, as_of: date | None = None,
            multivariate: bool = False) -> Report:
        """`evalctl rca`: which shift or segment explains a metric change."""
        resolved = self.model(model)
        ref = self.selector(reference, as_of) if reference is not None else None
        return self._stamped(api.rca(self.store, resolved, self.selector(baseline, as_of),
                                     self.selector(current, as_of), reference=ref,
                                     metric=metric, top=top, multivariate=multivariate))

    @_traced
    def estimate(self, model: ModelRef, current: SelectorRef,
                 reference: SelectorRef = "validation", *, window: str | None = None,
                 windows: int | None = None, min_rows: int | None = None,
                 as_of: date | None = None) -> Report:
        """`evalctl estimate`: estimated performance per window while labels are late."""
        return self._stamped(api.estimate(self.store, self.model(model),
                                          self.selector(reference, as_of),
                                          self.selector(current, as_of), window=window,
                                          windows=windows, min_rows=min_rows))

    @_traced
    def report(self, model: ModelRef, current: SelectorRef, reference: SelectorRef = "training",
               *, estimate_reference: SelectorRef = "validation", window: str | None = None,
               as_of: date | None = None) -> Report:
        """`evalctl report`: skew, drift, slices, estimate and the latest monitor verdict of
        one model, each part the report its own command makes."""
        request = HealthRequest(reference=self.selector(reference, as_of),
                                current=self.selector(current, as_of),
                                estimate_reference=self.selector(estimate_reference, as_of),
                                window=window, stamp=now(self.clock))
        return self._stamped(health_report(self.store, self.model(model), request))

    @_traced
    def export(self, model: ModelRef, selector: SelectorRef, out: str | Path, *,
               where: str | None = None, segment: str | None = None,
               only_errors: bool = False, sample: int | None = None, seed: int = 0,
               as_of: date | None = None) -> Report:
        """`evalctl export`: write a selection's examples to Parquet or CSV."""
        return self._stamped(api.export(self.store, self.model(model),
                                        self.selector(selector, as_of), Path(out), where=where,
                                        segment=segment, only_errors=only_errors,
                                        sample=sample, seed=seed))

    @_traced
    def monitor(self, models: ModelRef | Sequence[ModelRef] | None = None, *,
                day: date | None = None, run_id: str | None = None,
                notify: bool | None = None, report_link: str | None = None,
                engine: str = "auto", spark: Any = None) -> MonitorOutcome:
        """`evalctl monitor`: every configured check of each model (default: every model of
        the config) for ``day`` (default: the day before the clock's UTC date); appends the
        history and returns the report with the new alerts. ``notify``: deliver the models'
        `alerts:` (None: those configured; False: none; True: all, quiet hours ignored);
        ``report_link``: where the payload says the report is (e.g. the `-o` path);
        ``engine``: where drift's summaries come from (as `drift`'s ``engine``); ``spark``:
        a running SparkSession drift scans run on (else the config's ``engine:``)."""
        if models is None:
            models = sorted(self.config.models)
            if not models:
                raise InputError("monitor: the config has no models")
        elif isinstance(models, str | ModelConfig):
            models = [models]
        resolved = [self.model(m) for m in models]
        from evalctl.alerts import notify as alerts  # imported on use: urllib, fast --help

        notified = alerts.models_to_notify(resolved, notify, os.environ)  # before any write
        with self._spark(engine, spark) as on:
            outcome = api.monitor(self.store, resolved, day=day, clock=self.clock,
                                  run_id=run_id, spark=on, engine=engine)
        if notified:
            alerts.notify_models(self.store, notified, outcome.report, alerts.Delivering(
                now=now(self.clock), forced=bool(notify), report=report_link))
        self._stamped(outcome.report)
        return outcome

    @_traced
    def history(self, model: ModelRef, *, check: str | None = None,
                feature: str | None = None, since: date | None = None) -> Report:
        """`evalctl history`: the monitor's stored results as series."""
        return self._stamped(api.history(self.store, _name(model), check=check,
                                         feature=feature, since=since))

    def metrics(self, model: ModelRef | None = None) -> Report:
        """`evalctl metrics`: gauges of each model's newest monitored window (Prometheus)."""
        from evalctl.alerts.prometheus import metrics_report  # imported on use

        return self._stamped(metrics_report(self.store.storage, _maybe_name(model)))

    # -- the store -----------------------------------------------------------------------------
    @_traced
    def catalog(self, model: ModelRef | None = None) -> Report:
        """`evalctl catalog`: models, versions, envs, dates, rows and batches."""
        return self._stamped(api.catalog(self.store, _maybe_name(model)))

    @_traced
    def batches(self, model: ModelRef | None = None) -> Report:
        """`evalctl batches`: the live ledger records, oldest first."""
        return self._stamped(api.batches(self.store, _maybe_name(model)))

    @_traced
    def files(self, model: ModelRef, selector: SelectorRef | None = None, *,
              actuals: bool = False, as_of: date | None = None) -> Report:
        """`evalctl files`: the committed files of a selection (or of the actuals)."""
        chosen = self.selector(selector, as_of) if selector is not None else None
        return self._stamped(api.files(self.store, _name(model), chosen, actuals=actuals))

    def doctor(self, *, repair: bool = False, grace: str | None = None) -> Report:
        """`evalctl doctor`: verify the ledger and every file; with ``repair``, clean up."""
        return self._stamped(api.doctor(self.store, repair=repair, grace=grace,
                                        clock=self.clock))

    @_traced
    def ingest(self, model: ModelRef, paths: Sequence[str | Path], *, version: str, env: str,
               input_format: str | None = None, engine: str = "local",
               spark: Any = None) -> Report:
        """`evalctl ingest`: prediction exports as one batch. `engine`: local (the
        default), spark, or auto (the config's ``engine.kind``); `spark`: a running
        SparkSession to write the batch on (left running)."""
        if engine not in ("auto", "local", "spark"):
            raise InputError(f"--engine: expected one of local, spark, auto, got {engine!r}")
        with self._spark(engine, spark if engine != "local" else None) as on:
            return self._stamped(api.ingest(self.store, self.model(model),
                                            [_input(p) for p in paths], version=version,
                                            env=env, input_format=input_format,
                                            clock=self.clock, spark=on,
                                            storage_options=self.storage_options))

    @_traced
    def ingest_actuals(self, model: ModelRef, paths: Sequence[str | Path], *,
                       input_format: str | None = None, engine: str = "local",
                       spark: Any = None) -> Report:
        """`evalctl ingest-actuals`: delayed ground truth as one batch. `engine` and
        `spark` as for `ingest`."""
        if engine not in ("auto", "local", "spark"):
            raise InputError(f"--engine: expected one of local, spark, auto, got {engine!r}")
        with self._spark(engine, spark if engine != "local" else None) as on:
            return self._stamped(api.ingest_ground_truth(self.store, self.model(model),
                                                         [_input(p) for p in paths],
                                                         input_format=input_format,
                                                         clock=self.clock, spark=on,
                                                         storage_options=self.storage_options))

    def remove(self, batch_ids: Sequence[str], *, dry_run: bool = False) -> Report:
        """`evalctl batches remove`: remove batches as one tombstone commit."""
        return self._stamped(api.remove(self.store, batch_ids, dry_run=dry_run,
                                        clock=self.clock))

    def gc(self, older_than: str, *, env: str | None = None, model: ModelRef | None = None,
           dry_run: bool = False) -> Report:
        """`evalctl gc`: remove whole batches older than a cut-off from the clock's date."""
        return self._stamped(api.gc(self.store, older_than, env=env, model=_maybe_name(model),
                                    dry_run=dry_run, clock=self.clock))

    @_traced
    def profiles_build(self, model: ModelRef | None = None, *, refit: bool = False,
                       engine: str = "auto", spark: Any = None) -> Report:
        """`evalctl profiles build`: fit the monitoring reference when needed, then profile
        every stored batch that has no profiles on it (every model with a `reference:` when
        `model` is None). `engine`: local, spark, or auto (the config's ``engine.kind``);
        `spark`: a running SparkSession to profile on (left running)."""
        if engine not in ("auto", "local", "spark"):
            raise InputError(f"--engine: expected one of auto, local, spark, got {engine!r}")
        models = [self.model(model)] if model is not None else [
            self.model(m) for m in self.config.models.values() if m.profiles.reference]
        with self._spark(engine, spark) as on:
            return self._stamped(api.profiles_build(self.store, models, refit=refit,
                                                    clock=self.clock, spark=on))

    @_traced
    def erase(self, model: ModelRef, ids: str | Path, *, dry_run: bool = False) -> Report:
        """`evalctl erase`: erase every row of some ids, as one commit."""
        return self._stamped(api.erase(self.store, self.model(model), Path(ids),
                                       dry_run=dry_run, clock=self.clock))


def _name(model: ModelRef) -> str:
    return model.name if isinstance(model, ModelConfig) else model


def _maybe_name(model: ModelRef | None) -> str | None:
    return None if model is None else _name(model)


__all__ = ["ModelRef", "SelectorRef", "Workspace", "open_workspace"]


def _input(path: str | Path) -> Path | str:
    """An input export: a local path, or an ``s3://`` URL kept as text (a Path would fold
    its ``//``)."""
    return str(path) if is_object_url(str(path)) else Path(path)
