"""How a trial weighs its tasks' losses: fixed weights, or a strategy that learns them.

A search chooses the strategy with the ``weighting`` hyperparameter, like any other:

```yaml
params:
  weighting: {type: choice, values: [static, uncertainty, dwa, gradnorm, pcgrad]}
  gamma: {type: uniform, low: 0.0, high: 1.0, when: {weighting: static}}
  dwa_temperature: {type: loguniform, low: 0.5, high: 5.0, when: {weighting: dwa}}
  gradnorm_alpha: {type: uniform, low: 0.0, high: 3.0, when: {weighting: gradnorm}}
```

``when: {PARAM: VALUE}`` (or ``{PARAM: [VALUE, ...]}``) samples a parameter only for trials whose
``PARAM`` (an earlier parameter of the file) took one of those values; the other trials neither
sample nor receive it (an empty cell in trials.csv). ``loss_weights: {type: simplex}`` is sampled
only for ``static`` trials when the space has a ``weighting``. Without ``weighting`` a trial is
``static``. The strategies, for the task losses ``L_i`` of a batch:

- ``static``: ``sum_i w_i L_i`` with ``gamma`` or simplex weights (`tune_mtl.weights`), compiled
  into the user's model as Keras loss weights, exactly as without this module.
- ``uncertainty`` (Kendall, Gal & Cipolla, CVPR 2018): ``sum_i exp(-s_i) L_i + s_i`` with one
  learned log-variance ``s_i`` per task (initially 0), written with ``keras.ops``, so any backend.
- ``dwa`` (Liu, Johns & Davison, CVPR 2019): ``sum_i w_i L_i`` with ``w = softmax(r / T)``, where
  ``r_i`` is task i's training loss in the last epoch over the one before (``dwa_temperature`` T,
  default 2); equal weights for the first two epochs. The paper scales the weights to sum to the
  number of tasks; here they sum to 1, like every strategy's weights (under Adam the scale of the
  loss barely matters).
- ``pcgrad`` (Yu et al., NeurIPS 2020): equal weights; each task's gradient of the shared
  variables is projected off every other task's gradient it conflicts with (negative dot
  product), in random order, and the projected gradients are summed.
- ``gradnorm`` (Chen et al., ICML 2018): ``sum_i w_i L_i``, where after each step the weights
  move down the gradient of ``sum_i |w_i G_i - mean(w G) r_i^alpha|`` (``G_i`` the norm of task
  i's gradient of the shared variables, ``r_i`` its loss relative to its first batch's, over the
  mean of those; ``gradnorm_alpha``, default 1.5), a step of the trial's learning rate, then
  renormalised to sum 1. The paper takes the gradient norms on the last shared layer only; here
  all shared variables (those that more than one task's loss reaches) count.

``pcgrad`` and ``gradnorm`` need each task's gradient separately, so a custom ``train_step`` with
``tf.GradientTape``: TensorFlow backend only; other backends are refused before the search
starts.

Each epoch a trial reports ``weight_<task>``, the share of each task's loss in the joint loss
(summing to 1; for ``uncertainty`` ``exp(-s_i)`` normalised, and the raw ``log_variance_<task>``
too); trials.csv keeps the last epoch's. This module is pure Python; the Keras side is
`tune_mtl.weighting.model` (no Ray, no Optuna).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tune_mtl.errors import TuneMtlError
from tune_mtl.weights import WEIGHT_PREFIX, loss_weights

__all__ = [
    "STRATEGIES",
    "GRADIENT_STRATEGIES",
    "WEIGHTING_PARAM",
    "TEMPERATURE_PARAM",
    "ALPHA_PARAM",
    "Weighting",
    "weighting_of",
    "check_strategies",
    "dwa_weights",
    "weight_metrics",
    "final_weights",
]

STRATEGIES = ("static", "uncertainty", "dwa", "gradnorm", "pcgrad")
# Strategies that need each task's gradient: a TensorFlow train_step.
GRADIENT_STRATEGIES = ("gradnorm", "pcgrad")
WEIGHTING_PARAM = "weighting"
TEMPERATURE_PARAM = "dwa_temperature"
ALPHA_PARAM = "gradnorm_alpha"
DEFAULT_TEMPERATURE = 2.0  # Liu et al.'s setting
DEFAULT_ALPHA = 1.5  # Chen et al.'s most used setting
LOG_VARIANCE_PREFIX = "log_variance_"


@dataclass(frozen=True)
class Weighting:
    """A trial's strategy and its settings."""

    strategy: str = "static"
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA

    @property
    def learned(self) -> bool:
        """Whether the weights change during training (the model is wrapped)."""
        return self.strategy != "static"


def weighting_of(config: Mapping[str, Any]) -> Weighting:
    """The strategy a trial's configuration names, checked.

    Raises:
        TuneMtlError: an unknown strategy, ``dwa_temperature <= 0`` or ``gradnorm_alpha < 0``.
    """
    strategy = config.get(WEIGHTING_PARAM, "static")
    if strategy not in STRATEGIES:
        raise TuneMtlError(
            f"`{WEIGHTING_PARAM}` is {strategy!r}, but it must be one of {', '.join(STRATEGIES)}."
        )
    temperature = float(config.get(TEMPERATURE_PARAM, DEFAULT_TEMPERATURE))
    if not temperature > 0:
        raise TuneMtlError(
            f"`{TEMPERATURE_PARAM}` is {temperature!r}, but DWA's temperature must be > 0; "
            "search it on a range above 0, e.g. {type: loguniform, low: 0.5, high: 5}."
        )
    alpha = float(config.get(ALPHA_PARAM, DEFAULT_ALPHA))
    if not alpha >= 0:
        raise TuneMtlError(
            f"`{ALPHA_PARAM}` is {alpha!r}, but GradNorm's alpha must be >= 0 (0: equal gradient "
            "norms); search it on a range such as {type: uniform, low: 0, high: 3}."
        )
    return Weighting(str(strategy), temperature, alpha)


def check_strategies(strategies: Iterable[str], *, backend: str) -> None:
    """Refuses strategies that cannot run on this Keras backend: the gradient ones off TensorFlow.

    (Data with one task, where GradNorm and PCGrad have nothing to balance, is refused for every
    search by `tune_mtl.data.spec.Dataset`.)

    Raises:
        TuneMtlError: naming the strategy, what it needs and what to do instead.
    """
    for strategy in strategies:
        if strategy in GRADIENT_STRATEGIES and backend != "tensorflow":
            raise TuneMtlError(
                f"`{WEIGHTING_PARAM}: {strategy}` needs each task's gradient, written for the "
                f"TensorFlow backend only, but Keras runs on {backend}; set "
                "KERAS_BACKEND=tensorflow or choose static, uncertainty or dwa."
            )


def dwa_weights(
    task_losses: Sequence[Mapping[str, float]], task_names: Sequence[str], *, temperature: float
) -> dict[str, float]:
    """DWA's weights for the next epoch from each finished epoch's training loss per task.

    ``w_i = exp(r_i / T) / sum_j exp(r_j / T)`` with ``r_i = L_i(t-1) / L_i(t-2)``, the last two
    epochs; equal weights before two epochs have finished.
    """
    if len(task_losses) < 2:
        return {name: 1.0 / len(task_names) for name in task_names}
    last, before = task_losses[-1], task_losses[-2]
    ratios = [float(last[name]) / float(before[name]) / temperature for name in task_names]
    top = max(ratios)  # subtracted so that exp cannot overflow; the softmax is unchanged
    exponentials = [math.exp(ratio - top) for ratio in ratios]
    total = sum(exponentials)
    return {name: e / total for name, e in zip(task_names, exponentials, strict=True)}


def weight_metrics(weights: Mapping[str, float]) -> dict[str, float]:
    """An epoch's report of the weights: ``{"weight_<task>": w}``."""
    return {f"{WEIGHT_PREFIX}{name}": float(value) for name, value in weights.items()}


def final_weights(
    config: Mapping[str, Any], last_result: Mapping[str, Any], task_names: Sequence[str]
) -> dict[str, float]:
    """A trial's weights at its last reported epoch; for a trial that never reported, the static
    weights its configuration names (the first epoch's for every strategy but ``static``: equal)."""
    reported = [f"{WEIGHT_PREFIX}{name}" for name in task_names]
    if all(column in last_result for column in reported):
        return {name: float(last_result[c]) for name, c in zip(task_names, reported, strict=True)}
    if weighting_of(config).learned:
        return {name: 1.0 / len(task_names) for name in task_names}
    return loss_weights(config, task_names)
