"""What `evalctl estimate` estimates per task, and how its regression loss models are fitted:
the names and options the settings declare as defaults (`evalctl.settings.sections`), apart
from the estimators (`cbpe`, `cbpe_multiclass`, `dle`), so that loading a config — every
command does — does not load them (start-up time: ~3 ms and six dataclasses a command)."""

from __future__ import annotations

from dataclasses import dataclass

BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")  # `cbpe`
MULTICLASS_METRICS = ("accuracy", "macro_f1", "macro_roc_auc")  # `cbpe_multiclass`
REGRESSION_METRICS = ("mae", "rmse")  # `dle`


@dataclass(frozen=True)
class DleOptions:
    """How the loss models are fitted (stated in the report's inputs)."""

    folds: int = 3  # cross-fitting folds (each fold's models are fitted on the others)
    reference_rows: int = 50_000  # labelled reference rows sampled per version to fit on
    window_rows: int = 20_000  # rows sampled per window to predict the loss of
    max_iter: int = 100  # boosting rounds at most (early stopping on a 10% validation split)
    learning_rate: float = 0.1
    seed: int = 0
