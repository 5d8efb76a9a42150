"""Optuna's side of a search: samplers, distributions, and a searcher that tells Optuna the truth.

Ray's `OptunaSearch` tells Optuna COMPLETE, with partial values, for a trial that a scheduler
stopped early or that errored after reporting. Here such trials are told PRUNED and FAIL, so the
study's completed trials are exactly the ones trained for the whole budget.

A space with conditional parameters (``when:``, `tune_mtl.space`) is searched define-by-run: the
sampler proposes a trial's parameters one by one and skips those whose condition fails, so that
DWA's temperature is neither sampled nor learned from for a ``static`` trial.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.results import STUDY_FILE, trial_status
from tune_mtl.space import SearchSpace
from tune_mtl.weighting import WEIGHTING_PARAM
from tune_mtl.weights import SIMPLEX_LOW, simplex_params

__all__ = ["SAMPLERS", "GRID_SAMPLER", "make_searcher"]
SAMPLERS = ("tpe", "nsga2", "gp", "random")
GRID_SAMPLER = "grid"  # a grid space's, whatever the sampler setting says


def _distribution(spec: Any) -> optuna.distributions.BaseDistribution:
    if spec.kind in ("choice", "grid"):
        return optuna.distributions.CategoricalDistribution(spec.values)
    if spec.kind == "int":
        return optuna.distributions.IntDistribution(
            int(spec.low), int(spec.high), log=spec.log, step=spec.step
        )
    log = spec.kind == "loguniform" or spec.log
    return optuna.distributions.FloatDistribution(spec.low, spec.high, log=log)


class ConditionalSpace:
    """A define-by-run space for Ray's `OptunaSearch`: samples each parameter in file order,
    those with conditions only when every condition holds. A plain class, so that the searcher
    pickles (Ray saves it for `resume`)."""

    def __init__(
        self,
        distributions: dict[str, optuna.distributions.BaseDistribution],
        conditions: dict[str, tuple[tuple[str, tuple[Any, ...]], ...]],
        constants: dict[str, Any],
    ) -> None:
        self.distributions = distributions
        self.conditions = conditions
        self.constants = constants

    def __call__(self, trial: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, distribution in self.distributions.items():
            known = {**self.constants, **values}
            wanted = self.conditions.get(name, ())
            if all(parent in known and known[parent] in allowed for parent, allowed in wanted):
                values[name] = _suggest(trial, name, distribution)
        return values


def _suggest(trial: Any, name: str, distribution: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, optuna.distributions.IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, optuna.distributions.FloatDistribution):
        return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)
    raise TypeError(f"no suggest method for {type(distribution).__name__}")


class _TuneGridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler, without its call to `Study.stop` after the last grid point.

    That call works only inside `Study.optimize`; here Ray Tune's trial count ends the search,
    and the call would leave the last grid trial unreported in the study.
    """

    def after_trial(self, study: Any, trial: Any, state: TrialState, values: Any) -> None:
        return None


class _PicklableNSGAII(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II sampler, which Ray can pickle (it saves the searcher to resume a search):
    Optuna 5.1's holds a thread lock, which is left out and made anew when it is unpickled."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


def _sampler(
    name: str, space: SearchSpace, *, trials: int, seed: int
) -> optuna.samplers.BaseSampler:
    if space.is_grid:
        grid = {name: list(spec.values) for name, spec in space.params.items()}
        return _TuneGridSampler(grid, seed=seed)
    if name == "tpe":
        # The constant liar keeps parallel workers from proposing the same point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if name == "nsga2":
        return _PicklableNSGAII(seed=seed, population_size=max(4, trials // 5))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "gp":
        try:
            import torch  # noqa: F401  (GPSampler needs it)
        except ImportError as error:
            raise TuneMtlError(
                "--sampler gp needs PyTorch, which is not installed; run `pip install torch` "
                "or choose --sampler tpe."
            ) from error
        return optuna.samplers.GPSampler(seed=seed)
    raise TuneMtlError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")


class TruthfulOptunaSearch(OptunaSearch):
    """`OptunaSearch` telling Optuna PRUNED for early-stopped trials and FAIL for errored ones."""

    def __init__(
        self,
        *args: Any,
        max_epochs: int,
        objectives: Objectives,
        start: tuple[dict[str, Any], ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._max_epochs = max_epochs
        self._objectives = objectives
        # Optuna hands queued configurations out before sampling; one already in the study (a
        # resumed search) is not queued again. Parameters a point leaves out are sampled.
        for point in start:
            self._study().enqueue_trial(point, skip_if_exists=True)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        if self._told_already(trial_id):
            # A search resumed after its driver was killed: the study has this trial's outcome,
            # the searcher state Ray saved before it does not.
            self._completed_trials.add(trial_id)
            return
        epochs = (result or {}).get("training_iteration", 0)
        ray_status = "ERROR" if error else "TERMINATED"
        status = trial_status(ray_status, epochs=epochs, max_epochs=self._max_epochs)
        if self._objectives.constraints and result and trial_id in self._ot_trials:
            violations = self._objectives.violations(result)
            for constraint, violation in zip(self._objectives.constraints, violations, strict=True):
                self._ot_trials[trial_id].set_constraint(constraint.task, violation)
        if trial_id in self._completed_trials or status == "completed":
            super().on_trial_complete(trial_id, result, error)
            return
        state = TrialState.FAIL if status == "failed" else TrialState.PRUNED
        self._study().tell(self._ot_trials[trial_id], state=state)
        self._completed_trials.add(trial_id)

    def _told_already(self, trial_id: str) -> bool:
        """Whether the study holds a finished Optuna trial for Ray's trial ``trial_id``."""
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return False
        number = self._ot_trials[trial_id].number
        return bool(self._study().get_trials(deepcopy=False)[number].state.is_finished())

    def _study(self) -> optuna.Study:
        if self._ot_study is None:
            raise RuntimeError("the Optuna study is not set up; pass space, metric and mode.")
        return self._ot_study

    def restore(self, checkpoint_path: str) -> None:
        """Restores the searcher of a resumed search and fails the study's orphaned trials.

        A driver killed between two saves of the experiment leaves Optuna trials that Ray Tune
        never recorded; they will not run, so the study is told they failed.
        """
        super().restore(checkpoint_path)
        if self._ot_study is None:
            return
        known = {trial.number for trial in self._ot_trials.values()}
        for trial in self._ot_study.get_trials(states=(TrialState.RUNNING,)):
            if trial.number not in known:
                self._ot_study.tell(trial.number, state=TrialState.FAIL)


def make_searcher(
    space: SearchSpace,
    objectives: Objectives,
    *,
    sampler: str,
    trials: int,
    max_epochs: int,
    seed: int,
    study_dir: Path,
    study_name: str,
) -> TruthfulOptunaSearch:
    """Multi-objective Optuna search on the validation objectives, stored in ``study_dir``.

    With ``space.simplex``, one parameter per task (``simplex_<task>``, uniform on (0, 1]) joins
    the space; `tune_mtl.weights` turns them into loss weights; with a ``weighting`` in the space,
    only ``static`` trials sample them. Conditional parameters make the space define-by-run
    (`ConditionalSpace`). The space's ``start`` configurations are proposed first, in order.
    Constraints reach the sampler as each trial's violations
    (`optuna.trial.Trial.set_constraint`, one per constrained task).
    """
    study_dir.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(study_dir / STUDY_FILE)))
    distributions = {name: _distribution(spec) for name, spec in space.params.items()}
    conditions = {name: spec.when for name, spec in space.params.items() if spec.when}
    weighted = WEIGHTING_PARAM in space.params or WEIGHTING_PARAM in space.constants
    if space.simplex:
        for name in simplex_params(objectives.task_names):
            distributions[name] = optuna.distributions.FloatDistribution(SIMPLEX_LOW, 1.0)
            if weighted:
                conditions[name] = ((WEIGHTING_PARAM, ("static",)),)
    searched: Any = distributions
    if conditions:
        searched = ConditionalSpace(distributions, conditions, dict(space.constants))
    return TruthfulOptunaSearch(
        space=searched,
        metric=objectives.columns(),
        mode=objectives.modes,
        sampler=_sampler(sampler, space, trials=trials, seed=seed),
        study_name=study_name,
        storage=storage,
        max_epochs=max_epochs,
        objectives=objectives,
        start=space.start,
    )
