"""Per-task gradients for ``pcgrad`` and ``gradnorm``: a `WeightedModel`'s TensorFlow train step.

`project_conflicting` (PCGrad) and `gradnorm_update` are written with ``keras.ops`` on arrays, so
tests check them on numbers worked out by hand; `per_task_train_step` takes each task's gradient
with ``tf.GradientTape``, TensorFlow only (`tune_mtl.weighting.check_strategies` refuses the two
strategies on other backends before a search starts).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras
from keras import ops

if TYPE_CHECKING:
    from tune_mtl.weighting.model import WeightedModel

__all__ = ["project_conflicting", "gradnorm_update", "per_task_train_step"]

# Floor of a GradNorm weight before renormalising: a weight never reaches 0 and stays there.
MIN_WEIGHT = 1e-4


def project_conflicting(gradients: Any, orders: Any) -> Any:
    """PCGrad: each task's gradient projected off the others it conflicts with, summed.

    Args:
        gradients: ``(tasks, d)``, each task's (weighted) gradient of the shared variables.
        orders: ``(tasks, tasks)`` integers; row i is the order in which task i meets the tasks
            (its own index in it is skipped).

    Returns:
        ``(d,)``: ``sum_i g_i'`` where ``g_i'`` starts at ``g_i`` and, for each other task j in
        turn with ``g_i' . g_j < 0``, loses its component along ``g_j``.
    """
    count = gradients.shape[0]
    projected = []
    for i in range(count):
        current = gradients[i]
        for k in range(count):
            j = orders[i][k]
            other = ops.take(gradients, j, axis=0)
            dot = ops.sum(current * other)
            squared = ops.sum(other * other)
            conflict = ops.logical_and(ops.less(dot, 0.0), ops.not_equal(j, i))
            step = ops.where(squared > 0, dot / ops.maximum(squared, 1e-30), 0.0)
            current = ops.where(conflict, current - step * other, current)
        projected.append(current)
    return ops.sum(ops.stack(projected), axis=0)


def gradnorm_update(
    weights: Any,
    gradient_norms: Any,
    losses: Any,
    initial_losses: Any,
    *,
    alpha: float,
    learning_rate: float,
) -> Any:
    """GradNorm's new task weights after one step.

    Args:
        weights: ``(tasks,)`` the weights ``w_i`` of the step, summing to 1.
        gradient_norms: ``(tasks,)`` the norm of each task's *unweighted* loss gradient of the
            shared variables, so that ``G_i = w_i * gradient_norms_i``.
        losses: ``(tasks,)`` the step's task losses ``L_i``; ``initial_losses`` the first step's.

    Returns:
        ``w - learning_rate * d/dw sum_i |G_i - mean(G) r_i^alpha|`` (the target held constant,
        ``r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0))``), floored and renormalised to sum 1.
    """
    norms = weights * gradient_norms
    ratios = losses / initial_losses
    relative = ratios / ops.mean(ratios)
    target = ops.mean(norms) * ops.power(relative, alpha)
    gradient = ops.sign(norms - target) * gradient_norms
    updated = ops.maximum(weights - learning_rate * gradient, MIN_WEIGHT)
    return updated / ops.sum(updated)


def _flat(tensors: list[Any]) -> Any:
    return ops.concatenate([ops.reshape(t, (-1,)) for t in tensors], axis=0)


def per_task_train_step(model: WeightedModel, data: Any) -> dict[str, Any]:
    """One step of ``pcgrad`` or ``gradnorm``: each task's gradient taken alone (TensorFlow)."""
    import tensorflow as tf

    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    variables = list(model.trainable_variables)
    count = len(model.task_names)
    with tf.GradientTape(persistent=True) as tape:
        y_pred = model(x, training=True)
        losses = model.task_loss_values(y, y_pred)
        joint = model.joint_loss(losses)
        regularization = model.regularization_loss()
        task_losses = [losses[i] for i in range(count)]  # sliced where the tape sees it
    task_gradients = [tape.gradient(task_losses[i], variables) for i in range(count)]
    regularization_gradients = tape.gradient(regularization, variables)
    del tape
    # Which variables a task reaches is known while tracing: a None gradient is no path.
    reached = [[g is not None for g in task_gradients[i]] for i in range(count)]
    shared = [v for v in range(len(variables)) if sum(r[v] for r in reached) > 1]
    weights = ops.convert_to_tensor(model.task_weights)

    def weighted_sum(index: int) -> Any:
        parts = [weights[i] * task_gradients[i][index] for i in range(count) if reached[i][index]]
        return ops.sum(ops.stack(parts), axis=0) if parts else None

    gradients = [weighted_sum(v) for v in range(len(variables))]
    if shared:
        stacked = ops.stack([_flat([task_gradients[i][v] for v in shared]) for i in range(count)])
        if model.strategy == "pcgrad":
            orders = ops.stack(
                [keras.random.shuffle(ops.arange(count), seed=model.seed_generator)
                 for _ in range(count)]
            )  # fmt: skip
            combined = project_conflicting(ops.expand_dims(weights, 1) * stacked, orders)
            start = 0
            for v in shared:
                size = math.prod(variables[v].shape)
                gradients[v] = ops.reshape(combined[start : start + size], variables[v].shape)
                start += size
        else:
            model.initial_losses.assign(
                ops.where(model.initial_losses > 0, model.initial_losses, losses)
            )
            updated = gradnorm_update(
                weights,
                ops.sqrt(ops.sum(stacked * stacked, axis=1)),
                losses,
                model.initial_losses,
                alpha=model.alpha,
                learning_rate=model.weight_learning_rate,
            )
            model.task_weights.assign(updated)
    for v, extra in enumerate(regularization_gradients):
        if extra is not None:
            gradients[v] = extra if gradients[v] is None else gradients[v] + extra
    model.optimizer.apply_gradients(
        [(g, var) for g, var in zip(gradients, variables, strict=True) if g is not None]
    )
    for metric in model.metrics:
        if metric.name == "loss":
            batch = ops.shape(y_pred[model.task_names[0]])[0]
            metric.update_state(joint + regularization, sample_weight=batch)
    return model.compute_metrics(x, y, y_pred)
