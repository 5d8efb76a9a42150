"""Hyperparameter importance for each objective, from Optuna's PED-ANOVA on a search's stored study.

Only COMPLETE trials count: the searcher tells Optuna PRUNED for trials the scheduler stopped, so
the study's completed trials are the ones trained for the whole budget, judged on equal terms.
PED-ANOVA needs nothing beyond Optuna (fANOVA would need scikit-learn). It answers: which
hyperparameters set the best trials apart from the rest, for one objective's validation metric.
The study's objective ``i`` is the search's ``objectives.objectives[i]``, with its direction.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tune_mtl.errors import TuneMtlError
from tune_mtl.results import STUDY_FILE

__all__ = [
    "Importances",
    "param_importances",
    "search_importances",
    "load_study",
    "TOP_TRIALS",
    "TARGET_QUANTILE",
]

# The "best" trials are the top 10%, and at least 5 of them (Optuna's advice for PED-ANOVA), which
# must be at most half of the completed trials, else the best are not set apart from anything.
TARGET_QUANTILE = 0.1
TOP_TRIALS = 5


@dataclass(frozen=True)
class Importances:
    """Importance of each varied hyperparameter per objective, or why there is none.

    ``per_objective[i]`` maps each hyperparameter to its share of importance for the study's
    objective ``i`` (the shares sum to 1), most important first; None for an objective whose value
    is the same in every completed trial. ``per_objective`` itself is None when there is nothing
    to rank (no study, too few completed trials, nothing varied); ``message`` then says why.
    """

    per_objective: tuple[dict[str, float] | None, ...] | None
    completed_trials: int
    varied_params: tuple[str, ...]
    top_trials: int = 0
    message: str | None = None


def load_study(experiment: str | Path, study_name: str) -> optuna.Study:
    """The search's Optuna study, read from ``optuna.journal`` in its folder."""
    path = Path(experiment) / STUDY_FILE
    if not path.is_file():
        raise TuneMtlError(f"{path} does not exist; pass the folder of a finished search.")
    storage = JournalStorage(JournalFileBackend(str(path)))
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError as error:
        names = ", ".join(s.study_name for s in optuna.get_all_study_summaries(storage)) or "none"
        raise TuneMtlError(
            f"{path} holds no study named {study_name!r} (it holds: {names}); is summary.json "
            "from the same search?"
        ) from error


def _varied_params(trials: list[FrozenTrial]) -> tuple[str, ...]:
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in trials:
        distributions.update(trial.distributions)
    return tuple(sorted(name for name, dist in distributions.items() if not dist.single()))


def _lower_is_better(study: optuna.Study, index: int) -> Callable[[FrozenTrial], float]:
    """Objective ``index`` as PED-ANOVA ranks it: lower first, so maximised values are negated."""
    sign = -1.0 if study.directions[index] == StudyDirection.MAXIMIZE else 1.0
    return lambda trial: sign * trial.values[index]


def _one_objective(study: optuna.Study, index: int, top_trials: int) -> dict[str, float] | None:
    values = [t.values[index] for t in study.get_trials(states=(TrialState.COMPLETE,))]
    if np.ptp(values) == 0:
        return None
    completed = len(values)
    # Half a trial below `top_trials`, so that rounding up inside Optuna lands on it exactly.
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(
        target_quantile=(top_trials - 0.5) / completed
    )
    with warnings.catch_warnings():
        # It warns that it ranks low values first: the target is turned for that.
        warnings.simplefilter("ignore", UserWarning)
        importances = optuna.importance.get_param_importances(
            study, evaluator=evaluator, target=_lower_is_better(study, index)
        )
    varied = _varied_params(study.get_trials(deepcopy=False))
    return {name: float(value) for name, value in importances.items() if name in varied}


def param_importances(study: optuna.Study) -> Importances:
    """PED-ANOVA importances of the varied hyperparameters for each objective of ``study``.

    Needs at least ``2 * TOP_TRIALS`` completed trials; with fewer, returns a message instead of
    numbers that would be noise.
    """
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = _varied_params(study.get_trials(deepcopy=False))
    if not varied:
        return Importances(None, len(completed), varied, message="No hyperparameter varied.")
    needed = 2 * TOP_TRIALS
    if len(completed) < needed:
        total = len(study.get_trials(deepcopy=False))
        stopped = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
        others = "; the others were stopped early or failed" if len(completed) < total else ""
        unstopped = ", or pass `--scheduler none` so that no trial stops early," if stopped else ""
        return Importances(
            None,
            len(completed),
            varied,
            message=(
                f"Hyperparameter importance needs at least {needed} completed trials, but this "
                f"search has {len(completed)} of {total}{others}. Run more trials{unstopped} to "
                "see it."
            ),
        )
    top = max(TOP_TRIALS, math.ceil(TARGET_QUANTILE * len(completed)))
    per_objective = tuple(_one_objective(study, i, top) for i in range(len(study.directions)))
    return Importances(per_objective, len(completed), varied, top_trials=top)


def search_importances(experiment: str | Path, study_name: str) -> Importances:
    """`param_importances` of a search's folder; a folder without its study gets a message."""
    if not (Path(experiment) / STUDY_FILE).is_file():
        return Importances(
            None,
            0,
            (),
            message=(
                f"No hyperparameter importance: the folder has no {STUDY_FILE}, the Optuna study "
                "that the search writes beside trials.csv. Copy it along with the results to see "
                "which hyperparameters mattered."
            ),
        )
    return param_importances(load_study(experiment, study_name))
