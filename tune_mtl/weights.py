"""Loss weights of a trial, from its configuration: ``gamma`` for two tasks, or the simplex.

Two tasks keep the article's ``gamma``: the joint loss is ``gamma * L1 + (1 - gamma) * L2``. For
any number of tasks, a space file's ``loss_weights: {type: simplex}`` searches weights uniformly on
the simplex (non-negative, summing to 1): the sampler proposes one number ``u_i`` in (0, 1] per
task (parameters ``simplex_<task>``), and the weights are ``-log(u_i)`` normalised to sum 1. With
``u_i`` uniform, ``-log(u_i)`` is exponentially distributed, and independent exponentials divided
by their sum are Dirichlet(1, ..., 1): the uniform distribution on the simplex (Optuna's FAQ uses
the same construction). Without either, every task weighs ``1 / N``.

Pure Python; each trial records its weights as ``weight_<task>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SIMPLEX_PREFIX", "WEIGHT_PREFIX", "simplex_params", "loss_weights", "weight_columns"]

SIMPLEX_PREFIX = "simplex_"
WEIGHT_PREFIX = "weight_"
# The sampler's lower bound for u_i; -log of it caps one weight's share against the others.
SIMPLEX_LOW = 1e-6


def simplex_params(task_names: Sequence[str]) -> list[str]:
    return [f"{SIMPLEX_PREFIX}{name}" for name in task_names]


def weight_columns(task_names: Sequence[str]) -> list[str]:
    return [f"{WEIGHT_PREFIX}{name}" for name in task_names]


def loss_weights(config: Mapping[str, Any], task_names: Sequence[str]) -> dict[str, float]:
    """Each task's loss weight for a trial's configuration; they sum to 1."""
    raw = simplex_params(task_names)
    if all(name in config for name in raw):
        exponentials = [-math.log(max(float(config[name]), SIMPLEX_LOW)) for name in raw]
        total = sum(exponentials)
        if total == 0.0:  # every u_i is 1: no preference at all
            return {name: 1.0 / len(task_names) for name in task_names}
        return {name: e / total for name, e in zip(task_names, exponentials, strict=True)}
    if "gamma" in config and len(task_names) == 2:
        gamma = float(config["gamma"])
        return {task_names[0]: gamma, task_names[1]: 1.0 - gamma}
    return {name: 1.0 / len(task_names) for name in task_names}
