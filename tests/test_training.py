from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tune_mtl.building import build_model
from tune_mtl.data import load_dataset
from tune_mtl.errors import TrialDivergedError
from tune_mtl.model import build_small
from tune_mtl.training import evaluate, train_epoch


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic")


def fresh_model(data, **changes) -> keras.Model:
    builder = functools.partial(build_small, input_shape=(12, 12, 1))
    config = {"trunk_filters": 8, "shared_width": 32, "branch_width": 16, **changes}
    return build_model(builder, config, data.tasks, sample=data.train.head(2))


def test_epochs_report_every_metric_and_learn(data) -> None:
    keras.utils.set_random_seed(0)
    model = fresh_model(data, learning_rate=3e-3)
    for epoch in range(6):
        metrics = train_epoch(model, data.train, data.val, epoch=epoch, batch_size=32)
    for task in ("shape", "family"):
        for name in (
            f"{task}_accuracy",
            f"{task}_loss",
            f"val_{task}_accuracy",
            f"val_{task}_loss",
        ):
            assert name in metrics
    assert metrics["epoch_seconds"] > 0
    assert metrics["val_shape_accuracy"] > 0.6  # a constant predictor scores 0.25
    tested = evaluate(model, data.test, data.tasks)
    assert set(tested) == {"test_shape_accuracy", "test_shape_loss", "test_family_accuracy",
                           "test_family_loss"}  # fmt: skip
    assert tested["test_family_accuracy"] > 0.75  # a constant predictor scores 0.5


def test_the_seed_holds(data) -> None:
    def train_once() -> list[np.ndarray]:
        keras.utils.set_random_seed(7)
        model = fresh_model(data)
        train_epoch(
            model, data.train, data.val, epoch=0, batch_size=32, examples_per_epoch=64, seed=7
        )
        return model.get_weights()

    first, second = train_once(), train_once()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_examples_per_epoch_draws_a_seeded_subset(data, monkeypatch) -> None:
    seen: list[np.ndarray] = []
    model = fresh_model(data)
    original_fit = model.fit

    def recording_fit(inputs, labels, *args, **kwargs):
        seen.append(labels["shape"].copy())
        return original_fit(inputs, labels, *args, **kwargs)

    monkeypatch.setattr(model, "fit", recording_fit)
    for epoch in (0, 0, 1):
        train_epoch(
            model, data.train, data.val, epoch=epoch, batch_size=32, examples_per_epoch=50, seed=3
        )
    train_epoch(model, data.train, data.val, epoch=2, batch_size=32)
    assert [len(labels) for labels in seen] == [50, 50, 50, len(data.train)]
    np.testing.assert_array_equal(seen[0], seen[1])  # the same epoch and seed: the same draw
    rng = np.random.default_rng([3, 1])
    expected = np.sort(rng.choice(len(data.train), 50, replace=False))
    np.testing.assert_array_equal(seen[2], data.train.labels["shape"][expected])


def test_nan_loss_fails_the_trial(data) -> None:
    model = fresh_model(data, learning_rate=1e30)
    with pytest.raises(TrialDivergedError, match="lower the learning rate"):
        for epoch in range(5):
            train_epoch(model, data.train, data.val, epoch=epoch, batch_size=32)


def test_the_autouse_fixture_seeds_what_builds_the_weights(data) -> None:
    """A model built at the start of a test has the weights of one built right after seeding: the
    autouse fixture seeded the backend, whatever earlier tests drew."""
    first = fresh_model(data).get_weights()
    keras.utils.set_random_seed(0)  # what the fixture does before every test
    second = fresh_model(data).get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
