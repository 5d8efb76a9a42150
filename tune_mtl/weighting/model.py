"""The Keras side of learned loss weighting: the user's model wrapped in a `WeightedModel`.

A `static` trial trains the user's own model, compiled with float loss weights. Any other
strategy trains a `WeightedModel`, a `keras.Model` whose only layer is the user's model: its
``compute_loss`` weighs the per-task losses with variables (Keras 3's ``compile(loss_weights=)``
takes floats only), and for ``pcgrad`` and ``gradnorm`` its ``train_step`` takes each task's
gradient (`tune_mtl.weighting.gradients`). It logs Keras's own keys: ``loss``, ``<task>_loss``
(each task's unweighted loss) and the compiled metrics (``<task>_accuracy``), with ``val_``
prefixes on validation data.

Files: a trial's checkpoint holds the wrapper (`TRAINING_FILE`, with the learned variables and
the optimizer; loading it needs tune-mtl) for resuming, and `MODEL_FILE`, the user's model alone,
compiled with each task's loss and the weights it ended with as plain float loss weights. That is
the file `tune-mtl export` copies and the front is tested with: it loads with Keras alone. The
learned log-variances of ``uncertainty`` are in the wrapper only; inference does not use them.

Keras only; no Ray or Optuna.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
from keras import ops

from tune_mtl.building import adam, compile_model, task_loss, task_metric
from tune_mtl.tasks import Task
from tune_mtl.trial_files import MODEL_FILE, TRAINING_FILE
from tune_mtl.weighting import (
    DEFAULT_ALPHA,
    GRADIENT_STRATEGIES,
    LOG_VARIANCE_PREFIX,
    STRATEGIES,
    Weighting,
)

__all__ = [
    "WeightedModel",
    "wrap_model",
    "current_weights",
    "epoch_report",
    "set_weights",
    "inference_model",
    "save_checkpoint",
    "load_checkpoint",
]


@keras.saving.register_keras_serializable(package="tune_mtl")
class WeightedModel(keras.Model):
    """The user's model ``network`` trained on a weighted sum of its tasks' losses.

    Args:
        network: the user's model, outputs a dict keyed by task name.
        task_names: the tasks, in order; the weights follow it.
        losses: each task's Keras loss.
        strategy: ``uncertainty``, ``dwa``, ``pcgrad`` or ``gradnorm``.
        alpha: GradNorm's asymmetry.
        weight_learning_rate: GradNorm's step on the weights.
        seed: PCGrad's order of projections.
    """

    def __init__(
        self,
        network: keras.Model,
        *,
        task_names: Sequence[str],
        losses: Mapping[str, keras.losses.Loss],
        strategy: str,
        alpha: float = DEFAULT_ALPHA,
        weight_learning_rate: float = 1e-3,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if strategy not in STRATEGIES or strategy == "static":
            raise ValueError(f"WeightedModel takes a learned strategy, not {strategy!r}.")
        self.network = network
        self.task_names = list(task_names)
        self.task_losses = {name: losses[name] for name in self.task_names}
        self.strategy = strategy
        self.alpha = float(alpha)
        self.weight_learning_rate = float(weight_learning_rate)
        self.seed = int(seed)
        count = len(self.task_names)
        # Every strategy has every variable, so the saved file's layout is one for all.
        self.task_weights = self.add_weight(
            name="task_weights",
            shape=(count,),
            initializer=keras.initializers.Constant(1.0 / count),
            trainable=False,
        )
        self.log_variances = self.add_weight(
            name="log_variances",
            shape=(count,),
            initializer="zeros",
            trainable=strategy == "uncertainty",
        )
        # GradNorm's L_i(0): each task's loss on the first batch (0 until then).
        self.initial_losses = self.add_weight(
            name="initial_losses", shape=(count,), initializer="zeros", trainable=False
        )
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.task_loss_trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in task_names]

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.network(inputs, training=training)

    def task_loss_values(self, y: Mapping[str, Any], y_pred: Mapping[str, Any]) -> Any:
        """Each task's unweighted loss on the batch, stacked in task order; updates the
        ``<task>_loss`` trackers as Keras's own per-output trackers do (weighted by batch size)."""
        values = []
        for name, tracker in zip(self.task_names, self.task_loss_trackers, strict=True):
            value = ops.cast(self.task_losses[name](y[name], y_pred[name]), "float32")
            tracker.update_state(value, sample_weight=ops.shape(y_pred[name])[0])
            values.append(value)
        return ops.stack(values)

    def joint_loss(self, losses: Any) -> Any:
        """The loss the strategy minimises, from the stacked task losses."""
        if self.strategy == "uncertainty":
            return ops.sum(ops.exp(-self.log_variances) * losses + self.log_variances)
        return ops.sum(self.task_weights * losses)

    def regularization_loss(self) -> Any:
        """The sum of the user's layers' own losses (weight regularisers); 0 without any."""
        total = ops.zeros(())
        for value in self.losses:
            total = total + ops.cast(value, "float32")
        return total

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        return self.joint_loss(self.task_loss_values(y, y_pred)) + self.regularization_loss()

    def train_step(self, data: Any) -> Any:
        if self.strategy in GRADIENT_STRATEGIES:
            from tune_mtl.weighting.gradients import per_task_train_step

            return per_task_train_step(self, data)
        return super().train_step(data)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "task_names": self.task_names,
            "losses": {
                name: keras.saving.serialize_keras_object(loss)
                for name, loss in self.task_losses.items()
            },
            "strategy": self.strategy,
            "alpha": self.alpha,
            "weight_learning_rate": self.weight_learning_rate,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WeightedModel:
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        losses = {
            name: keras.saving.deserialize_keras_object(loss)
            for name, loss in config.pop("losses").items()
        }
        return cls(network, losses=losses, **config)


def wrap_model(
    network: keras.Model,
    tasks: Sequence[Task],
    weighting: Weighting,
    *,
    learning_rate: float,
    decay_steps: int | None = None,
    seed: int = 0,
) -> WeightedModel:
    """The user's checked model in a compiled `WeightedModel` for a learned strategy, its
    learning rate decayed over ``decay_steps`` when given (`tune_mtl.building.adam`)."""
    model = WeightedModel(
        network,
        task_names=[task.name for task in tasks],
        losses={task.name: task_loss(task) for task in tasks},
        strategy=weighting.strategy,
        alpha=weighting.alpha,
        weight_learning_rate=learning_rate,
        seed=seed,
        name=f"{weighting.strategy}_{network.name}",
    )
    model.compile(
        optimizer=adam(learning_rate, decay_steps=decay_steps),
        metrics={task.name: [task_metric(task)] for task in tasks},
        jit_compile=keras.config.backend() == "jax",
    )
    return model


def current_weights(model: keras.Model, static: Mapping[str, float]) -> dict[str, float]:
    """Each task's share of the joint loss now, summing to 1; ``static`` for an unwrapped model."""
    if not isinstance(model, WeightedModel):
        return dict(static)
    if model.strategy == "uncertainty":
        values = ops.convert_to_numpy(ops.softmax(-model.log_variances))
    else:
        values = ops.convert_to_numpy(model.task_weights)
    return {name: float(value) for name, value in zip(model.task_names, values, strict=True)}


def epoch_report(model: keras.Model) -> dict[str, float]:
    """What a wrapped model reports per epoch besides its weights: ``log_variance_<task>``."""
    if not isinstance(model, WeightedModel) or model.strategy != "uncertainty":
        return {}
    values = ops.convert_to_numpy(model.log_variances)
    return {
        f"{LOG_VARIANCE_PREFIX}{name}": float(value)
        for name, value in zip(model.task_names, values, strict=True)
    }


def set_weights(model: WeightedModel, weights: Mapping[str, float]) -> None:
    """Sets the weights of the next steps (DWA's, between epochs)."""
    model.task_weights.assign([float(weights[name]) for name in model.task_names])


def inference_model(
    model: keras.Model, tasks: Sequence[Task], *, weights: Mapping[str, float]
) -> keras.Model:
    """The user's model alone, with the trained values, compiled with each task's loss and
    ``weights`` as float loss weights: what Keras alone can load."""
    if not isinstance(model, WeightedModel):
        return model
    network = keras.models.clone_model(model.network)
    network.set_weights(model.network.get_weights())
    learning_rate = float(ops.convert_to_numpy(model.optimizer.learning_rate))
    compiled = compile_model(network, tasks, weights=weights, learning_rate=learning_rate)
    # Built, so that the file holds the optimizer's slots and loads without a warning.
    compiled.optimizer.build(compiled.trainable_variables)
    return compiled


def save_checkpoint(
    model: keras.Model, directory: Path, tasks: Sequence[Task], *, weights: Mapping[str, float]
) -> None:
    """Writes `MODEL_FILE` (the user's model) and, for a wrapped model, `TRAINING_FILE`."""
    if isinstance(model, WeightedModel):
        model.save(directory / TRAINING_FILE)
    inference_model(model, tasks, weights=weights).save(directory / MODEL_FILE)


def load_checkpoint(directory: Path) -> keras.Model:
    """The model to go on training: the wrapper if the checkpoint has one, else the user's."""
    wrapped = directory / TRAINING_FILE
    return keras.models.load_model(wrapped if wrapped.is_file() else directory / MODEL_FILE)
