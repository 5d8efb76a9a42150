from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tune_mtl.building import build_model
from tune_mtl.data import load_dataset
from tune_mtl.data.spec import Split
from tune_mtl.errors import TrialDivergedError
from tune_mtl.model import build_small
from tune_mtl.training import epoch_examples, evaluate, train_epoch


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


def test_an_epoch_is_a_seeded_shuffled_draw() -> None:
    train = Split(np.arange(100).reshape(100, 1), {"t": np.arange(100)})

    def order(epoch: int, examples: int | None, seed: int = 3) -> list[int]:
        subset = epoch_examples(train, epoch=epoch, examples_per_epoch=examples, seed=seed)
        np.testing.assert_array_equal(subset.inputs[:, 0], subset.labels["t"])  # pairs kept
        return subset.labels["t"].tolist()

    drawn = order(1, 50)
    expected = np.random.default_rng([3, 1]).choice(100, 50, replace=False)
    assert drawn == expected.tolist() and len(set(drawn)) == 50
    assert drawn != sorted(drawn)  # trained in the drawn order, not the data's
    assert order(1, 50) == drawn and order(2, 50) != drawn and order(1, 50, seed=4) != drawn
    everything = order(0, None)
    assert sorted(everything) == list(range(100)) and everything != list(range(100))
    assert order(0, 100) == everything == order(0, None)
    assert order(1, None) != everything


def test_fit_gets_the_epochs_examples_in_order_without_autotuning(data, monkeypatch) -> None:
    """Keras's own pipeline for arrays autotunes, and its tuning thread held up the end of
    `fit`; the feed turns autotuning off and keeps the epoch's order."""
    seen: list[dict] = []
    model = fresh_model(data)
    original_fit = model.fit

    def recording_fit(**kwargs):
        seen.append(kwargs)
        return original_fit(**kwargs)

    monkeypatch.setattr(model, "fit", recording_fit)
    train_epoch(model, data.train, data.val, epoch=1, batch_size=32, examples_per_epoch=50, seed=3)
    (kwargs,) = seen
    batches = list(kwargs["x"].as_numpy_iterator())
    assert [len(labels["shape"]) for _, labels in batches] == [32, 18]
    expected = epoch_examples(data.train, epoch=1, examples_per_epoch=50, seed=3)
    np.testing.assert_array_equal(
        np.concatenate([labels["shape"] for _, labels in batches]), expected.labels["shape"]
    )
    assert kwargs["shuffle"] is False
    assert kwargs["x"].options().autotune.enabled is False
    assert kwargs["validation_data"].options().autotune.enabled is False
    assert sum(len(labels["shape"]) for _, labels in kwargs["validation_data"]) == len(data.val)


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
