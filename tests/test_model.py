"""The built-in builders: the same `build(hp, tasks)` interface as a user's, any number of tasks."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tune_mtl.building import build_model
from tune_mtl.data import synthetic
from tune_mtl.data.spec import Split
from tune_mtl.errors import TuneMtlError
from tune_mtl.model import build_lenet, build_seed, build_small
from tune_mtl.tasks import Task

TASKS = (
    Task("shape", classes=("a", "b", "c", "d")),
    Task("family", classes=("large", "small")),
    Task("flag", kind="binary"),
    Task("size", kind="regression"),
)


def sample(shape: tuple[int, ...] = (12, 12, 1)) -> Split:
    labels = {"shape": np.arange(4) % 4, "family": np.arange(4) % 2, "flag": np.arange(4) % 2,
              "size": np.linspace(0, 1, 4)}  # fmt: skip
    return Split(np.zeros((4, *shape), dtype=np.uint8), labels)


def test_small_model_has_one_output_per_task_of_its_kind() -> None:
    builder = functools.partial(build_small, input_shape=(12, 12, 1))
    hp = {"branch_width": 40, "family_width": 24, "learning_rate": 0.01}
    model = build_model(builder, hp, TASKS, sample=sample())
    outputs = model.predict(np.zeros((5, 12, 12, 1), dtype=np.uint8), verbose=0)
    assert {name: out.shape for name, out in outputs.items()} == {
        "shape": (5, 4), "family": (5, 2), "flag": (5, 1), "size": (5, 1)
    }  # fmt: skip
    np.testing.assert_allclose(outputs["shape"].sum(axis=1), 1.0, rtol=1e-5)
    assert ((outputs["flag"] > 0) & (outputs["flag"] < 1)).all()
    assert model.get_layer("shape_dense0").units == 40
    assert model.get_layer("family_dense0").units == 24
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.01)


def test_joint_loss_is_the_gamma_weighted_sum_of_the_task_losses() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (32, 12, 12, 1)).astype(np.uint8)
    targets = {"shape": rng.integers(0, 4, 32), "family": rng.integers(0, 2, 32)}
    builder = functools.partial(build_small, input_shape=(12, 12, 1))
    model = build_model(builder, {"gamma": 0.25}, synthetic.TASKS, sample=sample())
    logs = model.evaluate(images, targets, batch_size=32, verbose=0, return_dict=True)
    expected = 0.25 * logs["shape_loss"] + 0.75 * logs["family_loss"]
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def test_seed_model_is_the_articles_network() -> None:
    tasks = (Task("class", classes=[str(i) for i in range(8)]),
             Task("animal_vs_vehicle", classes=("animal", "vehicle")))  # fmt: skip
    model = build_seed({"dropout": 0.0}, tasks, input_shape=(32, 32, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 3 and all(p.pool_size == (2, 2) for p in pools)
    assert model.get_layer("shared").units == 3136
    for task, classes in (("class", 8), ("animal_vs_vehicle", 2)):
        assert model.get_layer(f"{task}_dense0").units == 1024
        assert model.get_layer(f"{task}_dense1").units == 100
        assert model.get_layer(task).units == classes


def test_trunk_filters_keep_the_presets_ratio() -> None:
    model = build_seed({"trunk_filters": 16}, TASKS[:2], input_shape=(32, 32, 3))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64]


def test_small_pads_its_convs_and_seed_does_not_unless_asked() -> None:
    model = build_small({}, TASKS[:2], input_shape=(28, 28, 1))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.padding, c.output.shape[1:3]) for c in convs] == [
        ("same", (28, 28)), ("same", (14, 14))
    ]  # fmt: skip
    flat = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    assert flat.output.shape[1:] == (7 * 7 * 32,)
    unpadded = build_small({"padding": "valid"}, TASKS[:2], input_shape=(28, 28, 1))
    flat = next(layer for layer in unpadded.layers if isinstance(layer, keras.layers.Flatten))
    assert flat.output.shape[1:] == (5 * 5 * 32,)  # 28 -> 26 -> 13 -> 11 -> 5
    seed = build_seed({}, TASKS[:2], input_shape=(32, 32, 3))
    assert {layer.padding for layer in seed.layers if isinstance(layer, keras.layers.Conv2D)} == {
        "valid"
    }
    # Three same-padded convs fit 12x12 images (12 -> 6 -> 3 -> 1), three unpadded ones do not.
    assert build_seed({"padding": "same"}, TASKS[:2], input_shape=(12, 12, 1)).built


def test_an_unknown_padding_is_refused_with_a_clear_message() -> None:
    with pytest.raises(
        TuneMtlError, match="padding is 'full', but the built-in models take valid or same"
    ):
        build_small({"padding": "full"}, TASKS[:2], input_shape=(28, 28, 1))


def test_too_small_images_are_refused_with_a_clear_message() -> None:
    with pytest.raises(TuneMtlError, match="12x12 pixels are too small for 3 conv layers"):
        build_seed({}, TASKS[:2], input_shape=(12, 12, 1))


def test_lenet_is_pareto_mtls_network() -> None:
    """Conv 10 9x9, pool, Conv 20 5x5, pool, shared Dense 50; one head per task, no branches."""
    builder = functools.partial(build_lenet, input_shape=(36, 36, 1))
    model = build_model(builder, {}, TASKS, sample=sample((36, 36, 1)))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [
        (10, (9, 9), "valid"), (20, (5, 5), "valid")
    ]  # fmt: skip
    assert all(c.activation is keras.activations.relu for c in convs)
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [p.pool_size for p in pools] == [(2, 2), (2, 2)]
    flat = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    assert flat.output.shape[1:] == (5 * 5 * 20,)  # 36 -> 28 -> 14 -> 10 -> 5
    shared = model.get_layer("shared")
    assert shared.units == 50 and shared.activation is keras.activations.relu
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert sorted(dense) == sorted(["shared", *(task.name for task in TASKS)])
    for task in TASKS:  # each head reads the 50 shared units directly
        assert tuple(model.get_layer(task.name).kernel.shape) == (50, task.units)
    outputs = model.predict(np.zeros((3, 36, 36, 1), dtype=np.uint8), verbose=0)
    assert {name: out.shape for name, out in outputs.items()} == {
        "shape": (3, 4), "family": (3, 2), "flag": (3, 1), "size": (3, 1)
    }  # fmt: skip
    np.testing.assert_allclose(outputs["family"].sum(axis=1), 1.0, rtol=1e-5)


def test_lenet_reads_widths_and_refuses_too_small_images() -> None:
    model = build_lenet(
        {"trunk_filters": 5, "shared_width": 30}, TASKS[:2], input_shape=(36, 36, 1)
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [5, 10]
    assert model.get_layer("shared").units == 30
    with pytest.raises(TuneMtlError, match="18x18 pixels are too small for 2 conv layers"):
        build_lenet({}, TASKS[:2], input_shape=(18, 18, 1))


def _binary_check(activation: str | None) -> keras.Model:
    """A one-unit `flag` output with ``activation``, built and checked on 32 examples of both
    signs: a linear unit cannot keep all of them inside [0, 1]."""

    def build(hp, tasks) -> keras.Model:
        features = keras.Input(shape=(3,))
        flag = keras.layers.Dense(1, activation=activation, name="flag")(features)
        return keras.Model(features, {"flag": flag})

    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32") * 10
    return build_model(build, {}, [TASKS[2]], sample=Split(x, {"flag": np.arange(32) % 2}))


def test_a_binary_output_with_its_sigmoid_is_accepted() -> None:
    assert _binary_check("sigmoid").output_names == ["flag"]


def test_a_binary_output_without_its_sigmoid_is_refused() -> None:
    with pytest.raises(TuneMtlError, match=r"^output 'flag' is not a probability \(values -"):
        _binary_check(None)
