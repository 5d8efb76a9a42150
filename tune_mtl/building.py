"""A trial's model: the user's builder called, its outputs checked against the tasks, compiled.

The builder is a plain function ``build(hp, tasks) -> keras.Model`` returning an uncompiled model
with one output per task, named after it. Everything the search owns is added here: per-task loss
and metric, loss weights, and the optimizer. Keras only; no Ray or Optuna.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tune_mtl.data.spec import Split
from tune_mtl.errors import TuneMtlError
from tune_mtl.repeats import SEED_KEY
from tune_mtl.tasks import Task
from tune_mtl.user_code import call_user, function_name
from tune_mtl.weighting import weighting_of
from tune_mtl.weights import SIMPLEX_PREFIX, loss_weights

__all__ = [
    "Hyperparameters",
    "Builder",
    "build_model",
    "compile_model",
    "adam",
    "task_loss",
    "task_metric",
    "DEFAULT_LEARNING_RATE",
    "CHECK_EXAMPLES",
]

Builder = Callable[[Mapping[str, Any], Sequence[Task]], keras.Model]
DEFAULT_LEARNING_RATE = 1e-3
# Examples the model is called on before it is compiled, to check its outputs: enough that an
# output without its activation shows values outside [0, 1].
CHECK_EXAMPLES = 32


class Hyperparameters(Mapping[str, Any]):
    """One trial's hyperparameters, searched and constant: ``hp["dropout"]``,
    ``hp.get("shared_width", 64)``."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = {
            k: v for k, v in values.items() if not k.startswith(SIMPLEX_PREFIX) and k != SEED_KEY
        }
        self.read: set[str] = set()  # the names asked for, to tell which parameters are used

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        if name not in self._values:
            raise KeyError(
                f"hyperparameter {name!r} is not in the search space ({', '.join(self._values)}); "
                f"add it under params: or read it with hp.get({name!r}, default)."
            )
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def items(self) -> ItemsView[str, Any]:  # copying every value asks for none of them
        return self._values.items()

    def __repr__(self) -> str:
        return f"Hyperparameters({self._values!r})"


def task_loss(task: Task) -> keras.losses.Loss:
    """A task's loss: cross-entropy for classes, MSE or Huber for regression."""
    if task.kind == "classification":
        return keras.losses.SparseCategoricalCrossentropy()
    if task.kind == "binary":
        return keras.losses.BinaryCrossentropy()
    return keras.losses.Huber() if task.loss == "huber" else keras.losses.MeanSquaredError()


def task_metric(task: Task) -> keras.metrics.Metric:
    """A task's metric, named as `Task.metric` spells it."""
    if task.kind == "classification":
        return keras.metrics.SparseCategoricalAccuracy(name=task.metric)
    if task.kind == "binary":
        return keras.metrics.BinaryAccuracy(name=task.metric)
    return keras.metrics.MeanAbsoluteError(name=task.metric)


def adam(learning_rate: float, *, decay_steps: int | None = None) -> keras.optimizers.Adam:
    """Adam at ``learning_rate``; with ``decay_steps``, decayed to zero along a half cosine over
    that many steps (`tune_mtl.learning_rate`)."""
    if decay_steps is None:
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps))


def compile_model(
    model: keras.Model,
    tasks: Sequence[Task],
    *,
    weights: Mapping[str, float],
    learning_rate: float = DEFAULT_LEARNING_RATE,
    decay_steps: int | None = None,
) -> keras.Model:
    """Compiles with each task's loss and metric, the loss weights and `adam`."""
    model.compile(
        optimizer=adam(learning_rate, decay_steps=decay_steps),
        loss={task.name: task_loss(task) for task in tasks},
        loss_weights={task.name: float(weights[task.name]) for task in tasks},
        metrics={task.name: [task_metric(task)] for task in tasks},
        # TensorFlow's XLA ran small conv nets 2.5x slower on CPU; JAX is always compiled.
        jit_compile=keras.config.backend() == "jax",
    )
    return model


def _expected_shape(task: Task) -> str:
    if task.kind == "classification":
        return f"(batch, {task.units}): a softmax over its {task.units} classes"
    return "(batch, 1): one sigmoid unit" if task.kind == "binary" else "(batch, 1): one unit"


def _describe_inputs(inputs: Any) -> str:
    """The shape and dtype of one example: ``(28, 28, 1) uint8``, or per named input."""
    if isinstance(inputs, Mapping):
        return ", ".join(f"{name} {_describe_inputs(array)}" for name, array in inputs.items())
    return f"{tuple(inputs.shape[1:])} {inputs.dtype}"


def _named_outputs(model: keras.Model, sample: Split, tasks: Sequence[Task]) -> keras.Model:
    """Calls the model on a few examples; returns it with a dict of outputs keyed by task."""
    try:
        outputs = model(sample.inputs, training=False)
    except Exception as error:  # a model that cannot take the data fails in many ways
        raise TuneMtlError(
            f"the model could not be called on the data's inputs ({type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}); each example "
            f"is {_describe_inputs(sample.inputs)}: make the model's Input match it."
        ) from error
    if isinstance(outputs, Mapping):
        produced = {str(name): value for name, value in outputs.items()}
        wrapped = model
    else:
        listed = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        names = list(getattr(model, "output_names", None) or [])
        if len(names) != len(listed):
            raise TuneMtlError(
                "the model's outputs have no names; return a dict {task.name: output} or name "
                "each output layer after its task."
            )
        produced = dict(zip(names, listed, strict=True))
        wrapped = keras.Model(model.inputs, dict(zip(names, model.outputs, strict=True)),
                              name=model.name)  # fmt: skip
    wanted = [task.name for task in tasks]
    missing = [name for name in wanted if name not in produced]
    if missing:
        raise TuneMtlError(
            f"the model has no output called {missing[0]!r} (its outputs: "
            f"{', '.join(produced) or 'none'}); name one output after each task "
            f"({', '.join(wanted)})."
        )
    extra = [name for name in produced if name not in wanted]
    if extra:
        raise TuneMtlError(
            f"the model's output {extra[0]!r} is not a task ({', '.join(wanted)}); remove it, or "
            "add the task and its labels to the data."
        )
    values = {task.name: keras.ops.convert_to_numpy(produced[task.name]) for task in tasks}
    for task in tasks:
        shape = tuple(np.shape(values[task.name]))
        fits = shape[1:] == (task.units,) or (task.units == 1 and shape[1:] == ())
        if not fits:
            raise TuneMtlError(
                f"output {task.name!r} has shape {('batch', *shape[1:])}, but the {task.kind} "
                f"task needs {_expected_shape(task)}."
            )
    for task in tasks:
        if not np.all(np.isfinite(values[task.name])):
            raise TuneMtlError(
                f"output {task.name!r} is NaN or infinite on a few examples of the untrained "
                "model; look for a layer that divides by zero, takes a log or overflows."
            )
        _check_probabilities(task, values[task.name])
    return wrapped


def _check_probabilities(task: Task, values: np.ndarray) -> None:
    """A classification or binary output must be probabilities: the losses take no logits."""
    if task.kind == "regression":
        return
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    inside = bool(np.all((values >= -1e-6) & (values <= 1 + 1e-6)))
    if task.kind == "classification":
        sums = values.sum(axis=1)
        if not inside or not np.allclose(sums, 1.0, atol=1e-2):  # float16 rounds
            raise TuneMtlError(
                f"output {task.name!r} is not a probability over its {task.units} classes (its "
                f"rows sum to {sums.min():.3g} to {sums.max():.3g} on a few examples); end it "
                "with activation='softmax'."
            )
    elif not inside:
        raise TuneMtlError(
            f"output {task.name!r} is not a probability (values {values.min():.3g} to "
            f"{values.max():.3g} on a few examples); end it with activation='sigmoid'."
        )


def build_model(
    build: Builder,
    config: Mapping[str, Any],
    tasks: Sequence[Task],
    *,
    sample: Split,
    seed: int = 0,
    decay_steps: int | None = None,
) -> keras.Model:
    """Calls ``build(hp, tasks)``, checks its outputs on ``sample`` and compiles it, with the
    learning rate decayed over ``decay_steps`` when given (`adam`).

    With a learned ``weighting`` (`tune_mtl.weighting`) the model comes wrapped in a
    `tune_mtl.weighting.model.WeightedModel`; ``seed`` seeds its random choices (PCGrad's order).

    Raises:
        TuneMtlError: the builder raised, returned something else than an uncompiled Keras model,
            or an output is missing, extra or of the wrong shape for its task.
    """
    name = function_name(build)
    model = call_user(build, Hyperparameters(config), tuple(tasks), role="the model builder",
                      name=name)  # fmt: skip
    if not isinstance(model, keras.Model):
        raise TuneMtlError(
            f"the model builder {name!r} returned {type(model).__name__}, not a keras.Model; "
            "return the model, uncompiled."
        )
    if getattr(model, "compiled", False):
        raise TuneMtlError(
            f"the model builder {name!r} returned a compiled model; return it uncompiled: tune-mtl "
            "compiles it with each task's loss, the searched loss weights and learning rate."
        )
    model = _named_outputs(model, sample, tasks)
    learning_rate = float(config.get("learning_rate", DEFAULT_LEARNING_RATE))
    weighting = weighting_of(config)
    if weighting.learned:
        from tune_mtl.weighting.model import wrap_model

        return wrap_model(
            model, tasks, weighting, learning_rate=learning_rate, decay_steps=decay_steps, seed=seed
        )
    weights = loss_weights(config, [task.name for task in tasks])
    return compile_model(
        model, tasks, weights=weights, learning_rate=learning_rate, decay_steps=decay_steps
    )
