"""What a trial's network looks like: presets and how searched hyperparameters change them.

Kept free of Keras so that search spaces can be checked without starting TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ModelConfig", "PRESETS", "PARAMETERS", "model_config"]


@dataclass(frozen=True)
class ModelConfig:
    """A shared conv trunk, a shared dense layer, then one dense branch per task.

    Attributes:
        trunk_filters: filters of each unpadded 3x3 conv layer, each followed by a 2x2 max pool.
        shared_width: units of the shared dense layer after the flattened trunk.
        task1_units: units of task 1's dense branch, layer by layer, before its softmax head.
        task2_units: the same for task 2.
        dropout: rate after the shared layer and after every branch layer.
        learning_rate: Adam's learning rate.
        gamma: the joint loss is gamma * CE(task 1) + (1 - gamma) * CE(task 2).
    """

    trunk_filters: tuple[int, ...] = (16, 32)
    shared_width: int = 128
    task1_units: tuple[int, ...] = (64,)
    task2_units: tuple[int, ...] = (64,)
    dropout: float = 0.0
    learning_rate: float = 1e-3
    gamma: float = 0.5


PRESETS: dict[str, ModelConfig] = {
    # Cheap enough for a 50-trial search on two CPU cores.
    "small": ModelConfig(),
    # The article's network: Conv 32, 64, 128 with 2x2 pools, Dense 3136, branches 1024 -> 100.
    "seed": ModelConfig(
        trunk_filters=(32, 64, 128),
        shared_width=3136,
        task1_units=(1024, 100),
        task2_units=(1024, 100),
    ),
}

# Hyperparameters a search space may set, and what kind of value each takes.
PARAMETERS: dict[str, type] = {
    "gamma": float,
    "learning_rate": float,
    "dropout": float,
    "shared_width": int,
    "task1_width": int,
    "task2_width": int,
    "trunk_filters": int,
}


def model_config(preset: str, params: Mapping[str, float | int]) -> ModelConfig:
    """Applies searched hyperparameters to a preset.

    ``task1_width``/``task2_width`` set the first layer of a branch; ``trunk_filters`` sets the
    first conv layer and later layers keep their ratio to it (the presets double at every layer).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown model {preset!r}; choose one of {', '.join(PRESETS)}.")
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"unknown hyperparameters {unknown}; known: {', '.join(PARAMETERS)}.")
    config = PRESETS[preset]
    changes: dict[str, Any] = {
        key: PARAMETERS[key](params[key])
        for key in ("gamma", "learning_rate", "dropout", "shared_width")
        if key in params
    }
    for task in ("task1", "task2"):
        if f"{task}_width" in params:
            units = getattr(config, f"{task}_units")
            changes[f"{task}_units"] = (int(params[f"{task}_width"]), *units[1:])
    if "trunk_filters" in params:
        first = int(params["trunk_filters"])
        base = config.trunk_filters[0]
        changes["trunk_filters"] = tuple(
            max(1, round(first * f / base)) for f in config.trunk_filters
        )
    return replace(config, **changes)
