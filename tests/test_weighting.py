"""Loss weighting strategies on numbers worked out by hand, the space syntax that picks them, and
the combinations refused before a search starts."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest

from tune_mtl.cli import main
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.searcher import ConditionalSpace, make_searcher
from tune_mtl.space import load_space
from tune_mtl.tasks import Task
from tune_mtl.trial_files import MODEL_FILE, TRAINING_FILE
from tune_mtl.weighting import (
    Weighting,
    check_strategies,
    dwa_weights,
    final_weights,
    weighting_of,
)
from tune_mtl.weighting.gradients import gradnorm_update, project_conflicting
from tune_mtl.weighting.model import (
    WeightedModel,
    current_weights,
    save_checkpoint,
    set_weights,
    wrap_model,
)

TASKS = (Task("a", kind="regression"), Task("b", kind="regression"))
# One example: the shared layer maps x = (1, 0) to h = x K = (1, 0) with K the identity; head a
# reads h . (1, 1) = 1, head b reads h . (1, 0) = 1. With targets a = 0 and b = 2 both squared
# errors are 1, and the gradients of the losses on K are dLa/dK = 2 (a - 0) x^T (1, 1) =
# [[2, 2], [0, 0]] and dLb/dK = 2 (b - 2) x^T (1, 0) = [[-2, 0], [0, 0]]: they conflict.
X = np.array([[1.0, 0.0]], dtype="float32")
Y = {"a": np.array([[0.0]], dtype="float32"), "b": np.array([[2.0]], dtype="float32")}


def tiny_network() -> keras.Model:
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(2, use_bias=False, kernel_initializer="identity", name="shared")(
        inputs
    )
    heads = {
        name: keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer=keras.initializers.Constant(np.array(kernel).reshape(2, 1)),
            trainable=False,
            name=name,
        )(hidden)
        for name, kernel in (("a", [1.0, 1.0]), ("b", [1.0, 0.0]))
    }
    return keras.Model(inputs, heads, name="tiny")


def tiny_model(strategy: str, *, learning_rate: float = 1.0, **settings: float) -> WeightedModel:
    model = wrap_model(
        tiny_network(), TASKS, Weighting(strategy, **settings), learning_rate=learning_rate
    )
    # Plain gradient descent with step 1, so an update is the gradient itself.
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    return model


def shared_kernel(model: WeightedModel) -> np.ndarray:
    return keras.ops.convert_to_numpy(model.network.get_layer("shared").kernel)


# -- uncertainty ------------------------------------------------------------------------------


def test_uncertainty_minimises_the_kendall_loss() -> None:
    model = tiny_model("uncertainty")
    model.log_variances.assign([0.5, -1.0])
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    y = {"a": np.zeros((2, 1), "float32"), "b": np.full((2, 1), 2.0, "float32")}
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    # Predictions: a = (1, 1), b = (1, 0); La = mean(1, 1) = 1, Lb = mean(1, 4) = 2.5.
    expected = math.exp(-0.5) * 1.0 + 0.5 + math.exp(1.0) * 2.5 - 1.0
    assert results["loss"] == pytest.approx(expected, rel=1e-6)
    assert results["a_loss"] == pytest.approx(1.0) and results["b_loss"] == pytest.approx(2.5)
    # The reported weights are each task's share of exp(-s).
    shares = current_weights(model, {})
    total = math.exp(-0.5) + math.exp(1.0)
    assert shares == pytest.approx({"a": math.exp(-0.5) / total, "b": math.exp(1.0) / total})


def test_uncertainty_learns_its_log_variances_and_saves_them(tmp_path: Path) -> None:
    model = tiny_model("uncertainty")
    model.train_on_batch(X, Y)
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L = 0 at s = 0 with L = 1: one step leaves s at 0,
    # so take a task whose loss differs: b's target 3 gives Lb = 4, gradient 1 - 4 = -3.
    model.train_on_batch(X, {"a": Y["a"], "b": np.array([[3.0]], "float32")})
    learned = keras.ops.convert_to_numpy(model.log_variances)
    assert learned[1] > 0.0
    model.save(tmp_path / "wrapped.keras")
    loaded = keras.models.load_model(tmp_path / "wrapped.keras")
    assert isinstance(loaded, WeightedModel) and loaded.strategy == "uncertainty"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.log_variances), learned)


# -- DWA --------------------------------------------------------------------------------------


def test_dwa_weights_are_the_softmax_of_the_loss_ratios() -> None:
    names = ["a", "b"]
    assert dwa_weights([], names, temperature=2.0) == {"a": 0.5, "b": 0.5}
    assert dwa_weights([{"a": 2.0, "b": 1.0}], names, temperature=2.0) == {"a": 0.5, "b": 0.5}
    history = [{"a": 2.0, "b": 1.0}, {"a": 1.0, "b": 0.9}]
    # Ratios 0.5 and 0.9, over T = 2: exp(0.25) / (exp(0.25) + exp(0.45)) = 0.450166.
    weights = dwa_weights(history, names, temperature=2.0)
    assert weights["a"] == pytest.approx(0.450166, abs=1e-6)
    assert weights["b"] == pytest.approx(0.549834, abs=1e-6)
    # A lower temperature sharpens the same preference.
    assert dwa_weights(history, names, temperature=0.1)["b"] > weights["b"]


def test_dwa_model_minimises_the_weighted_sum() -> None:
    model = tiny_model("dwa")
    set_weights(model, {"a": 0.3, "b": 0.7})
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    y = {"a": np.zeros((2, 1), "float32"), "b": np.full((2, 1), 2.0, "float32")}
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(0.3 * 1.0 + 0.7 * 2.5, rel=1e-6)
    assert current_weights(model, {}) == pytest.approx({"a": 0.3, "b": 0.7})


# -- PCGrad -----------------------------------------------------------------------------------


def test_pcgrad_projects_two_conflicting_gradients() -> None:
    gradients = np.array([[1.0, 0.0], [-1.0, 1.0]], dtype="float32")
    orders = np.array([[0, 1], [1, 0]])
    # g1 . g2 = -1 < 0: g1' = g1 - (-1 / 2) g2 = (0.5, 0.5); g2' = g2 - (-1 / 1) g1 = (0, 1).
    combined = keras.ops.convert_to_numpy(project_conflicting(gradients, orders))
    np.testing.assert_allclose(combined, [0.5, 1.5], rtol=1e-6)
    # Gradients that agree are summed untouched.
    agreeing = np.array([[1.0, 0.0], [1.0, 1.0]], dtype="float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(project_conflicting(agreeing, orders)), [2.0, 1.0]
    )


def test_pcgrad_model_steps_along_the_projected_gradients() -> None:
    model = tiny_model("pcgrad")
    model.train_on_batch(X, Y)
    # Weighted 1/2 each and flattened: ga = (1, 1, 0, 0), gb = (-1, 0, 0, 0), ga . gb = -1;
    # ga' = ga + gb = (0, 1, 0, 0), gb' = gb + ga / 2 = (-0.5, 0.5, 0, 0); the sum is
    # (-0.5, 1.5, 0, 0), so K = I - [[-0.5, 1.5], [0, 0]]. Plain summing would give (0, 1, 0, 0).
    np.testing.assert_allclose(shared_kernel(model), [[1.5, -1.5], [0.0, 1.0]], rtol=1e-6)
    assert current_weights(model, {}) == pytest.approx({"a": 0.5, "b": 0.5})


# -- GradNorm ---------------------------------------------------------------------------------


def test_gradnorm_update_moves_weight_to_the_task_with_the_smaller_gradient() -> None:
    weights = np.array([0.5, 0.5], dtype="float32")
    norms = np.array([2.0 * math.sqrt(2.0), 2.0], dtype="float32")
    losses = np.array([1.0, 1.0], dtype="float32")
    updated = keras.ops.convert_to_numpy(
        gradnorm_update(weights, norms, losses, losses, alpha=1.5, learning_rate=0.01)
    )
    # G = w * norms = (1.414, 1); both tasks' loss ratio is 1, so the target is mean(G) for
    # both; sign(G - target) = (+1, -1): w - 0.01 (2.828, -2) = (0.471716, 0.52), renormalised.
    raw = np.array([0.5 - 0.01 * 2.0 * math.sqrt(2.0), 0.5 + 0.01 * 2.0])
    np.testing.assert_allclose(updated, raw / raw.sum(), rtol=1e-5)
    assert updated[0] < 0.5 < updated[1]
    # A task whose loss fell less (relative loss above the mean) gains weight at equal norms.
    slow = keras.ops.convert_to_numpy(
        gradnorm_update(
            weights,
            np.array([1.0, 1.0], "float32"),
            np.array([0.9, 0.5], "float32"),
            np.array([1.0, 1.0], "float32"),
            alpha=1.5,
            learning_rate=0.01,
        )
    )
    assert slow[0] > 0.5 > slow[1]


def test_gradnorm_model_updates_weights_and_network_by_hand() -> None:
    model = tiny_model("gradnorm", learning_rate=0.01, alpha=1.5)
    model.train_on_batch(X, Y)
    # The network steps with the step's weights (1/2 each): K = I - [[0, 1], [0, 0]].
    np.testing.assert_allclose(shared_kernel(model), [[1.0, -1.0], [0.0, 1.0]], rtol=1e-6)
    # Unweighted gradient norms on K: |ga| = sqrt(8), |gb| = 2, as in the update test above.
    raw = np.array([0.5 - 0.01 * 2.0 * math.sqrt(2.0), 0.5 + 0.01 * 2.0])
    weights = current_weights(model, {})
    assert [weights["a"], weights["b"]] == pytest.approx(list(raw / raw.sum()), rel=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.initial_losses), [1.0, 1.0])


# -- checkpoints and the exported model ---------------------------------------------------------


@pytest.mark.parametrize("strategy", ["uncertainty", "dwa", "pcgrad", "gradnorm"])
def test_checkpoint_holds_the_wrapper_and_a_plain_keras_model(
    strategy: str, tmp_path: Path
) -> None:
    model = tiny_model(strategy, learning_rate=0.01)
    model.train_on_batch(X, Y)
    weights = current_weights(model, {})
    save_checkpoint(model, tmp_path, TASKS, weights=weights)
    wrapped = keras.models.load_model(tmp_path / TRAINING_FILE)
    plain = keras.models.load_model(tmp_path / MODEL_FILE)
    assert isinstance(wrapped, WeightedModel) and not isinstance(plain, WeightedModel)
    # The wrapper resumes with its optimizer's state: one step taken.
    assert int(keras.ops.convert_to_numpy(wrapped.optimizer.iterations)) == 1
    expected = model.predict(X, verbose=0)
    for loaded in (wrapped, plain):
        predicted = loaded.predict(X, verbose=0)
        for name in ("a", "b"):
            np.testing.assert_allclose(predicted[name], expected[name], rtol=1e-6)
    # The plain model is compiled with the weights the trial ended with.
    assert plain.compiled
    assert current_weights(wrapped, {}) == pytest.approx(weights)


def test_final_weights_are_the_last_report_else_the_configured_ones() -> None:
    names = ["a", "b"]
    assert final_weights({"weighting": "dwa"}, {"weight_a": 0.2, "weight_b": 0.8}, names) == {
        "a": 0.2,
        "b": 0.8,
    }
    assert final_weights({"gamma": 0.3}, {}, names) == pytest.approx({"a": 0.3, "b": 0.7})
    assert final_weights({"weighting": "gradnorm"}, {}, names) == {"a": 0.5, "b": 0.5}


# -- the space: conditional parameters ----------------------------------------------------------

CONDITIONAL = """\
params:
  weighting: {type: choice, values: [static, uncertainty, dwa, pcgrad, gradnorm]}
  gamma: {type: uniform, low: 0.0, high: 1.0, when: {weighting: static}}
  dwa_temperature: {type: loguniform, low: 0.5, high: 5.0, when: {weighting: dwa}}
  gradnorm_alpha: {type: uniform, low: 0.0, high: 3.0, when: {weighting: [gradnorm]}}
  learning_rate: {type: loguniform, low: 1.0e-3, high: 1.0e-2}
"""


def test_conditional_parameters_are_sampled_only_for_their_strategy(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(CONDITIONAL)
    space = load_space(path)
    assert space.params["dwa_temperature"].when == (("weighting", ("dwa",)),)
    assert space.strategies[0] == "static"
    objectives = Objectives.for_tasks(
        (Task("a", classes=("x", "y")), Task("b", classes=("x", "y"))), [0.5, 0.5]
    )
    searcher = make_searcher(
        space, objectives, sampler="random", trials=40, max_epochs=1, seed=3,
        study_dir=tmp_path / "study", study_name="conditional",
    )  # fmt: skip
    assert isinstance(searcher._space, ConditionalSpace)
    seen = set()
    for number in range(40):
        config = searcher.suggest(f"t{number}")
        strategy = config["weighting"]
        seen.add(strategy)
        assert ("gamma" in config) == (strategy == "static")
        assert ("dwa_temperature" in config) == (strategy == "dwa")
        assert ("gradnorm_alpha" in config) == (strategy == "gradnorm")
        assert "learning_rate" in config
        assert weighting_of(config).strategy == strategy
    assert seen == {"static", "uncertainty", "dwa", "pcgrad", "gradnorm"}


def test_simplex_weights_are_sampled_for_static_trials_only(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "loss_weights: {type: simplex}\n"
        "params:\n  weighting: {type: choice, values: [static, uncertainty]}\n"
    )
    objectives = Objectives.for_tasks(
        (Task("a", classes=("x", "y")), Task("b", classes=("x", "y"))), [0.5, 0.5]
    )
    searcher = make_searcher(
        load_space(path), objectives, sampler="random", trials=20, max_epochs=1, seed=0,
        study_dir=tmp_path / "study", study_name="simplex",
    )  # fmt: skip
    configs = [searcher.suggest(f"t{n}") for n in range(20)]
    assert {c["weighting"] for c in configs} == {"static", "uncertainty"}
    for config in configs:
        assert ("simplex_a" in config) == (config["weighting"] == "static")


def test_the_define_by_run_space_survives_pickling() -> None:
    import pickle

    space = ConditionalSpace(
        {"weighting": optuna.distributions.CategoricalDistribution(["static", "dwa"])},
        {},
        {},
    )
    assert pickle.loads(pickle.dumps(space)).distributions == space.distributions


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "params:\n  weighting: {type: choice, values: [static, magic]}\n",
            "weighting must be one of static",
        ),
        ("params:\n  weighting: fancy\n", "weighting must be one of"),
        (
            "params:\n  dwa_temperature: {type: uniform, low: 0, high: 2}\n",
            "dwa_temperature must be > 0",
        ),
        ("params:\n  dwa_temperature: -1\n", "dwa_temperature must be > 0"),
        (
            "params:\n  gradnorm_alpha: {type: uniform, low: -1, high: 2}\n",
            "gradnorm_alpha must lie in [0, inf)",
        ),
        (
            "params:\n  dwa_temperature: {type: uniform, low: 1, high: 2, when: {weighting: dwa}}\n",
            "'weighting' is not a parameter above",
        ),
        (
            "params:\n  weighting: {type: choice, values: [static]}\n  dwa_temperature: {type: uniform, low: 1, high: 2, when: {weighting: dwa}}\n",
            "'weighting' takes only static",
        ),
        (
            "params:\n  lr: {type: uniform, low: 1, high: 2}\n  t: {type: uniform, low: 1, high: 2, when: {lr: 1}}\n",
            "'lr' must be a choice",
        ),
        (
            "params:\n  weighting: {type: grid, values: [static, dwa]}\n  dwa_temperature: {type: grid, values: [1, 2], when: {weighting: dwa}}\n",
            "drop `when`",
        ),
    ],
)
def test_bad_weighting_spaces_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(TuneMtlError) as error:
        load_space(path)
    assert fragment in str(error.value)


def test_strategies_that_cannot_run_are_refused() -> None:
    with pytest.raises(TuneMtlError, match="TensorFlow backend only, but Keras runs on jax"):
        check_strategies(["static", "pcgrad"], backend="jax")
    with pytest.raises(TuneMtlError, match="`weighting: gradnorm` needs each task's gradient"):
        check_strategies(["gradnorm"], backend="torch")
    check_strategies(["static", "uncertainty", "dwa"], backend="jax")  # no error
    check_strategies(["gradnorm", "pcgrad"], backend="tensorflow")  # no error
    with pytest.raises(TuneMtlError, match="DWA's temperature must be > 0"):
        weighting_of({"weighting": "dwa", "dwa_temperature": 0.0})


ONE_TASK = """\
import numpy as np
from tune_mtl import Dataset, Task


def load():
    rng = np.random.default_rng(0)
    def split(n):
        x = rng.normal(size=(n, 4)).astype("float32")
        return x, {"sign": (x[:, 0] > 0).astype(int)}
    return Dataset.from_arrays(train=split(40), test=split(10), tasks=[Task("sign", classes=["-", "+"])])
"""


@pytest.mark.parametrize(
    ("space", "fragment"),
    [
        # One task: nothing for GradNorm to balance; the data check refuses it for every search.
        (
            "params:\n  weighting: {type: choice, values: [static, gradnorm]}\n",
            "`tasks` holds 1 task(s); a multi-task search needs at least 2",
        ),
        ("params:\n  weighting: dwa\n  dwa_temperature: 0\n", "dwa_temperature must be > 0"),
    ],
)
def test_bad_combinations_are_one_line_and_exit_2(
    tmp_path: Path, space: str, fragment: str, capsys
) -> None:
    (tmp_path / "one_task.py").write_text(ONE_TASK)
    (tmp_path / "space.yaml").write_text(space)
    args = ["search", "--data", f"{tmp_path / 'one_task.py'}:load", "--model", "small",
            "--space", str(tmp_path / "space.yaml"), "--results", str(tmp_path / "results")]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert fragment in lines[0]
    assert not (tmp_path / "results").exists()
