"""Tasks, objectives and loss weights: names, directions, references, the score, the simplex."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tune_mtl.data.spec import Dataset
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.tasks import Task, score
from tune_mtl.weights import loss_weights


def test_a_task_names_its_metric_columns_and_direction() -> None:
    item = Task("item", classes=["a", "b", "c"])
    size = Task("size", kind="regression", loss="huber")
    flag = Task("flag", kind="binary")
    assert (item.column("val"), item.column("test"), item.column("train")) == (
        "val_item_accuracy", "test_item_accuracy", "item_accuracy"
    )  # fmt: skip
    assert (size.column("val"), size.direction, size.sign, size.units) == (
        "val_size_mae",
        "min",
        -1.0,
        1,
    )
    assert (item.direction, item.units, flag.units, flag.classes) == ("max", 3, 1, ("0", "1"))
    assert Task("size", kind="regression").loss == "mse"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Task("item size"), "not usable as an output name"),
        (lambda: Task("item", kind="ranking"), "kind 'ranking'"),
        (lambda: Task("item", classes=["only"]), "needs at least 2 class names"),
        (lambda: Task("flag", kind="binary", classes="abc"), "exactly 2 class names"),
        (lambda: Task("size", kind="regression", classes="ab"), "takes no classes"),
        (lambda: Task("size", kind="regression", loss="mape"), "loss 'mape'"),
        (lambda: Task("item", classes="ab", loss="huber"), "takes cross-entropy"),
    ],
)
def test_a_bad_task_is_one_line(make, fragment: str) -> None:
    with pytest.raises(TuneMtlError, match=fragment.replace("(", r"\(")):
        make()


def test_references_are_what_a_constant_predictor_scores() -> None:
    item = Task("item", classes="abc")
    # Training's majority class is 2; validation holds it 2 times in 5.
    assert item.reference(np.array([2, 2, 1, 0, 2]), np.array([2, 0, 0, 1, 2])) == 0.4
    size = Task("size", kind="regression")
    # Training's median is 3; validation's absolute errors are 1, 1 and 4.
    assert size.reference(np.array([1.0, 3.0, 10.0]), np.array([2.0, 4.0, 7.0])) == 2.0


def test_the_score_puts_accuracy_and_mae_on_one_scale() -> None:
    tasks = [Task("item", classes="abcd"), Task("size", kind="regression")]
    assert score([0.25, 2.0], tasks, [0.25, 2.0]) == 0.0  # no better than constant predictors
    assert score([1.0, 0.0], tasks, [0.25, 2.0]) == 1.0  # perfect
    assert score([0.625, 1.0], tasks, [0.25, 2.0]) == pytest.approx(0.5)  # half way on both


def test_objectives_turn_every_metric_into_one_to_maximise() -> None:
    objectives = Objectives.for_tasks(
        [
            Task("item", classes="abcd"),
            Task("size", kind="regression"),
            Task("group", classes="xy"),
        ],
        [0.25, 2.0, 0.5],
        objectives=["size", "item"],
        constraints={"group": {"min": 0.9}},
    )
    frame = pd.DataFrame({"val_item_accuracy": [0.5, 0.9], "val_size_mae": [1.0, 3.0],
                          "val_group_accuracy": [0.95, 0.5]})  # fmt: skip
    assert objectives.columns() == ["val_size_mae", "val_item_accuracy"]
    assert objectives.modes == ["min", "max"]
    np.testing.assert_array_equal(objectives.maximised(frame), [[-1.0, 0.5], [-3.0, 0.9]])
    np.testing.assert_array_equal(objectives.reference_point, [-2.0, 0.25])
    np.testing.assert_array_equal(objectives.feasible(frame), [True, False])
    assert objectives.violations({"val_group_accuracy": 0.8}) == [pytest.approx(0.1)]
    assert objectives.violations({}) == [float("inf")]
    assert Objectives.from_dict(objectives.to_dict()) == objectives


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"size": {"min": 0.5}}, "size: {min: 0.5} bounds its mae from below, but mae is "
         "minimised, so only worse models would pass; write {max: 0.5}."),
        ({"item": {"max": 0.9}}, "item: {max: 0.9} bounds its accuracy from above, but accuracy "
         "is maximised, so only worse models would pass; write {min: 0.9}."),
        ({"item": {"min": 90}}, "item: {min: 90} is outside the range of accuracy, 0 to 1; "
         "write {min: 0.9}."),
        ({"item": {"min": -0.5}}, "item: {min: -0.5} is outside the range of accuracy, 0 to 1; "
         "write a bound within it."),
        ({"size": {"max": -1}}, "size: {max: -1} is outside the range of mae, 0 or more; "
         "write a bound within it."),
    ],
)  # fmt: skip
def test_a_constraint_that_only_worse_models_or_none_pass_is_refused(bounds, message: str) -> None:
    tasks = [Task("item", classes="abcd"), Task("size", kind="regression")]
    with pytest.raises(TuneMtlError) as refused:
        Objectives.for_tasks(tasks, [0.25, 2.0], constraints=bounds)
    assert str(refused.value) == f"constraints: {message}"
    band = Objectives.for_tasks(tasks, [0.25, 2.0], constraints={"size": {"min": 0.1, "max": 1}})
    assert band.constraints[0].describe() == "size >= 0.1 and <= 1"


def test_loss_weights_from_gamma_the_simplex_or_equal() -> None:
    assert loss_weights({"gamma": 0.3}, ["a", "b"]) == {"a": 0.3, "b": 0.7}
    assert loss_weights({}, ["a", "b", "c"]) == {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    weights = loss_weights({"simplex_a": np.exp(-1), "simplex_b": np.exp(-3)}, ["a", "b"])
    assert weights == {"a": pytest.approx(0.25), "b": pytest.approx(0.75)}


@pytest.mark.parametrize("tasks", [2, 3, 5])
def test_simplex_weights_are_uniform_on_the_simplex(tasks: int) -> None:
    """Uniform on the simplex is Dirichlet(1, ..., 1): each weight's marginal is Beta(1, N - 1),
    whose CDF is 1 - (1 - x)^(N - 1)."""
    rng = np.random.default_rng(tasks)
    names = [f"t{i}" for i in range(tasks)]
    samples = np.array([
        list(loss_weights({f"simplex_{n}": u for n, u in zip(names, rng.random(tasks), strict=True)}, names).values())
        for _ in range(20000)
    ])  # fmt: skip
    np.testing.assert_allclose(samples.sum(axis=1), 1.0)
    for column in samples.T:
        ordered = np.sort(column)
        empirical = np.arange(1, len(ordered) + 1) / len(ordered)
        assert np.abs(empirical - (1 - (1 - ordered) ** (tasks - 1))).max() < 0.015  # KS distance


def test_a_multi_input_dataset_keeps_its_inputs_together() -> None:
    rng = np.random.default_rng(0)
    inputs = {"image": rng.random((40, 4, 4, 1)), "meta": rng.random((40, 3))}
    labels = {"item": np.arange(40) % 4, "size": rng.random(40)}
    tasks = [Task("item", classes="abcd"), Task("size", kind="regression")]
    dataset = Dataset.from_arrays(train=(inputs, labels), test=(inputs, labels), tasks=tasks)
    carved = dataset.with_validation(fraction=0.2, seed=1)
    assert len(carved.val) == 8 and len(carved.train) == 32
    # Every held-out example keeps its image, its metadata and its labels together.
    for position, meta in enumerate(carved.val.inputs["meta"]):
        (index,) = np.flatnonzero((inputs["meta"] == meta).all(axis=1))
        np.testing.assert_array_equal(carved.val.inputs["image"][position], inputs["image"][index])
        assert carved.val.labels["item"][position] == labels["item"][index]
        assert carved.val.labels["size"][position] == np.float32(labels["size"][index])
    # What a notebook shows: sizes, shapes and dtypes, not the arrays.
    assert repr(carved) == (
        "Dataset('custom': 32 train, 8 validation, 40 test examples; tasks item (4 classes), "
        "size (regression))"
    )
    assert repr(carved.val) == (
        "Split(8 examples; inputs image: (8, 4, 4, 1) float64, meta: (8, 3) float64; "
        "labels item, size)"
    )


@pytest.mark.parametrize(
    ("train", "fragment"),
    [
        ((np.zeros((4, 2)), {"item": [0, 1, 2, 3], "size": [1, 2, 3, 4], "extra": [0, 0, 0, 0]}), "labels for 'extra'"),
        ((np.zeros((4, 2)), [0, 1, 2, 3]), "labels must be a dict keyed by task name"),
        ((np.zeros((4, 2)), {"item": [0, 1.5, 2, 3], "size": [1, 2, 3, 4]}), "holds 1.5 at row 1"),
        ((np.zeros((4, 2)), {"item": ["a", "b", "c", "d"], "size": [1, 2, 3, 4]}), "are not numbers (could not convert string to float: 'a'); pass class indices 0..3, in the order of the task's classes."),
        ((np.zeros((4, 2)), {"item": [0, 1, 2, 3], "size": ["1", "2", "x", "4"]}), "are not numbers (could not convert string to float: 'x'); pass a numeric array."),
        ((np.zeros((4, 2)), {"item": [0, 1, 2, 3], "size": [1, 2, np.inf, 4]}), "NaN or infinite values (first at row 2)"),
        (({"a": np.zeros((4, 2)), "b": np.zeros((3, 2))}, {"item": [0, 1, 2, 3], "size": [1, 2, 3, 4]}), "inputs['b'] 3"),
        ((np.zeros((0, 2)), {"item": [], "size": []}), "has no examples"),
        ((np.array([[0, 1], [2, np.nan], [0, 0], [1, 1]]), {"item": [0, 1, 2, 3], "size": [1, 2, 3, 4]}), "`train` inputs holds 1 NaN or infinite values (first at row 1); drop or fill"),
        (({"a": np.zeros((4, 2)), "b": np.full((4, 2), np.inf)}, {"item": [0, 1, 2, 3], "size": [1, 2, 3, 4]}), "`train` inputs['b'] holds 8 NaN or infinite values (first at row 0)"),
        ((np.zeros((4, 2)), {"item": [2, 2, 2, 2], "size": [1, 2, 3, 4]}), "`train` labels['item'] are all class 2 (c); a task learns from examples of at least 2 classes"),
        ((np.zeros((4, 2)), {"item": [0, 1, 2, 3], "size": [1.5, 1.5, 1.5, 1.5]}), "`train` labels['size'] are all 1.5; a regression task learns from targets that vary"),
        (np.zeros((4, 2)), "must be a pair (inputs, labels)"),
    ],
)  # fmt: skip
def test_bad_arrays_are_one_line(train, fragment: str) -> None:
    tasks = [Task("item", classes="abcd"), Task("size", kind="regression")]
    test = (np.zeros((2, 2)), {"item": [0, 1], "size": [0.0, 1.0]})
    with pytest.raises(TuneMtlError) as caught:
        Dataset.from_arrays(train=train, test=test, tasks=tasks)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("val_labels", "message"),
    [
        ({"item": [1, 1], "size": [0.0, 1.0]}, "task 'item': a constant prediction already scores accuracy 1 on the 2 validation examples"),
        ({"item": [0, 1], "size": [2.0, 2.0]}, "task 'size': a constant prediction already scores MAE 0 on the 2 validation examples"),
    ],
)  # fmt: skip
def test_a_validation_split_no_model_can_beat_a_constant_on_is_refused(
    val_labels: dict, message: str
) -> None:
    tasks = [Task("item", classes="ab"), Task("size", kind="regression")]
    train = (np.zeros((3, 2)), {"item": [1, 1, 0], "size": [1.0, 2.0, 3.0]})
    dataset = Dataset.from_arrays(train=train, test=train, val=(np.zeros((2, 2)), val_labels),
                                  tasks=tasks)  # fmt: skip
    with pytest.raises(TuneMtlError) as caught:
        dataset.references  # noqa: B018
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_splits_must_share_their_input_shape_and_tasks_their_names() -> None:
    tasks = [Task("item", classes="ab"), Task("size", kind="regression")]
    labels = {"item": [0, 1], "size": [0.0, 1.0]}
    with pytest.raises(TuneMtlError, match="inputs differ in shape between splits"):
        Dataset.from_arrays(
            train=(np.zeros((2, 3)), labels), test=(np.zeros((2, 4)), labels), tasks=tasks
        )
    with pytest.raises(TuneMtlError, match="task names must differ"):
        Dataset.from_arrays(train=(np.zeros((2, 3)), labels), test=(np.zeros((2, 3)), labels),
                            tasks=[tasks[0], Task("item", kind="regression")])  # fmt: skip
    with pytest.raises(TuneMtlError, match="at least 2"):
        Dataset.from_arrays(
            train=(np.zeros((2, 3)), labels), test=(np.zeros((2, 3)), labels), tasks=tasks[:1]
        )
