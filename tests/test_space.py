from __future__ import annotations

from pathlib import Path

import pytest

from tune_mtl.errors import TuneMtlError
from tune_mtl.space import default_space_path, load_space

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_shipped_spaces_load() -> None:
    default = load_space(default_space_path())
    assert default.settings["data"] == "fashion_mnist"
    assert default.params["gamma"].kind == "uniform"
    assert (default.params["gamma"].low, default.params["gamma"].high) == (0.0, 1.0)
    assert default.params["learning_rate"].kind == "loguniform"
    assert {"branch_width", "shared_width", "dropout"} <= set(default.params)

    sweep = load_space(ROOT / "search_spaces" / "seed_gamma_sweep.yaml")
    assert sweep.is_grid
    assert [point["gamma"] for point in sweep.grid()] == [0.0, 0.5, 1.0]
    assert sweep.settings == {
        "data": "cifar10", "model": "seed", "max_epochs": 15,
        "batch_size": 128, "scheduler": "none",
    }  # fmt: skip

    # docs/multi-fashion.md: the searched LeNet and its single-task baseline, on the same budget.
    multi = load_space(ROOT / "search_spaces" / "multi_fashion.yaml")
    single = load_space(ROOT / "search_spaces" / "multi_fashion_single_task.yaml")
    assert set(multi.params) == {"gamma", "learning_rate"}
    assert [point["gamma"] for point in single.grid()] == [0.0, 1.0]
    assert single.constants == {"learning_rate": 1.0e-3}
    budget = ("data", "model", "max_epochs", "batch_size", "examples_per_epoch")
    assert [multi.settings[key] for key in budget] == [single.settings[key] for key in budget]
    assert multi.settings["model"] == "lenet" and multi.settings["data"] == "multi_fashion"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("params:\n  gamma: {type: uniform, low: 0, high: 1}\nepochs: 3\n", "`epochs` is 3"),
        ("params:\n  weight_item: {type: uniform, low: 0, high: 1}\n", "`params.weight_item`"),
        ("params:\n  simplex_a: 0.5\n", "tune-mtl's own"),
        ("params:\n  act: {type: choice, values: [relu, [1]]}\n", "a number, a string or true"),
        ("loss_weights: {type: dirichlet}\nparams:\n  dropout: 0.1\n", "{type: simplex}"),
        ("loss_weights: {type: simplex}\nparams:\n  gamma: 0.5\n", "drop gamma"),
        ("objectives: item\nparams:\n  dropout: 0.1\n", "`objectives` is 'item'"),
        ("constraints: {group: 0.9}\nparams:\n  dropout: 0.1\n", "{min: X}, {max: X}"),
        ("constraints: {group: {least: 0.9}}\nparams:\n  dropout: 0.1\n", "{min: X}, {max: X}"),
        ("params:\n  gamma: {type: normal, low: 0, high: 1}\n", "`params.gamma.type` is 'normal'"),
        ("params:\n  gamma: {low: 0, high: 1}\n", "`params.gamma` has no `type`; give it one of"),
        ("params:\n  learning_rate: {type: uniform, low: 0.1, high: 0.01}\n", "`low <= high`"),
        ("params:\n  shared_width: {type: int, low: 128, high: 64}\n",
         "`params.shared_width.low` is 128, but `low <= high` must hold (high is 64)."),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1.5}\n", "gamma must lie in [0, 1]"),
        ("params:\n  gamma: 1.2\n", "`params.gamma` is 1.2"),
        ("params:\n  gamma: {type: grid, values: [0, -0.1]}\n", "gamma must lie in [0, 1]"),
        ("params:\n  item_width: {type: int, low: 0, high: 64}\n",
         "`params.item_width.low` is 0, but item_width must be > 0"),
        ("params:\n  shared_width: {type: choice, values: [64, -1]}\n", "shared_width must be > 0"),
        ("params:\n  trunk_filters: 0\n", "trunk_filters must be > 0"),
        ("params:\n  learning_rate: {type: loguniform, low: 0, high: 0.1}\n", "low > 0"),
        ("params:\n  gamma: {type: uniform, low: 0}\n", "needs high"),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1, step: 2}\n", "uniform takes only"),
        ("params:\n  branch_width: {type: int, low: 1.5, high: 8}\n", "whole numbers"),
        ("max_epochs: 0\nparams:\n  gamma: 0.5\n", "`max_epochs` is 0"),
        ("params: {}\n", "`params`"),
        ("params:\n  gamma: 0.5\n  dropout: 0.1\n",
         "nothing to search; give one a distribution, or train this configuration as a one-point "
         "grid (gamma: {type: grid, values: [0.5]})"),
        ("params:\n  gamma: {type: grid, values: [0, 1]}\n  dropout: {type: uniform, low: 0, high: 0.5}\n",
         "a grid space takes only grids and constants"),
        ("params: [\n", "not valid YAML at line"),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1}\nstart: {gamma: 0.5}\n",
         "`start` is {'gamma': 0.5}, but it must be a list"),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1}\n  dropout: 0.1\nstart:\n  - {dropout: 0.2}\n",
         "`start[0].dropout` is 0.2, but only searched parameters (gamma)"),
        ("params:\n  gamma: {type: uniform, low: 0.2, high: 0.8}\nstart:\n  - {gamma: 0.5}\n  - {gamma: 0.9}\n",
         "`start[1].gamma` is 0.9, but it must lie in [0.2, 0.8]"),
        ("params:\n  act: {type: choice, values: [relu, gelu]}\nstart:\n  - {act: tanh}\n",
         "`start[0].act` is 'tanh', but it must be one of relu, gelu"),
        ("params:\n  units: {type: int, low: 8, high: 64, step: 8}\nstart:\n  - {units: 20}\n",
         "low plus a multiple of 8"),
        ("params:\n  weighting: {type: choice, values: [static, dwa]}\n"
         "  dwa_temperature: {type: uniform, low: 0.5, high: 5, when: {weighting: dwa}}\n"
         "start:\n  - {weighting: static, dwa_temperature: 2}\n",
         "sampled only when weighting is dwa; this point sets weighting: static, so drop "
         "dwa_temperature or set weighting: dwa"),
        ("params:\n  weighting: {type: choice, values: [static, dwa]}\n"
         "  dwa_temperature: {type: uniform, low: 0.5, high: 5, when: {weighting: dwa}}\n"
         "start:\n  - {dwa_temperature: 2}\n",
         "sampled only when weighting is dwa; set weighting in the same point"),
        ("params:\n  width: {type: int, low: 8, high: 64, log: true, step: 2}\n",
         "`params.width.step` is 2, but Optuna takes no step with `log: true`; drop one of them."),
        ("constraints: {big: {min: 0.9, max: 0.5}}\nparams:\n  gamma: {type: uniform, low: 0, high: 1}\n",
         "`constraints.big.min` is 0.9, but `min <= max` must hold (max is 0.5)."),
        ("params:\n  width: {type: int, low: 0, high: 64, log: true}\n",
         "`params.width.low` is 0, but `log: true` needs low >= 1."),
        ("params:\n  gamma: {type: grid, values: [0, 1]}\nstart:\n  - {gamma: 0}\n",
         "a grid space tries every point"),
    ],
)  # fmt: skip
def test_bad_space_is_one_line_naming_file_key_and_value(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TuneMtlError) as caught:
        load_space(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert fragment in message


def test_start_points_are_kept_as_the_sampler_would_propose_them(tmp_path: Path) -> None:
    space = load_space(
        write(tmp_path, "params:\n  gamma: {type: uniform, low: 0, high: 1}\n"
                        "  branch_width: {type: int, low: 16, high: 256, log: true}\n"
                        "  act: {type: choice, values: [relu, gelu]}\n"
                        "start:\n  - {gamma: 1, branch_width: 64.0}\n  - {act: gelu}\n")
    )  # fmt: skip
    assert space.start == ({"gamma": 1.0, "branch_width": 64}, {"act": "gelu"})
    assert type(space.start[0]["gamma"]) is float and type(space.start[0]["branch_width"]) is int


def test_missing_file_names_it_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TuneMtlError, match="does not exist; pass --space"):
        load_space(tmp_path / "nope.yaml")


def test_constants_and_settings_are_kept(tmp_path: Path) -> None:
    space = load_space(
        write(tmp_path, "batch_size: 64\nparams:\n  gamma: {type: uniform, low: 0.2, high: 0.8}\n"
                        "  dropout: 0.25\n  family_width: {type: int, low: 8, high: 64, log: true}\n")
    )  # fmt: skip
    assert space.constants == {"dropout": 0.25}
    assert space.settings == {"batch_size": 64}
    assert space.params["family_width"].log is True
    assert not space.is_grid


def test_a_users_own_parameters_and_the_search_keys(tmp_path: Path) -> None:
    space = load_space(
        write(tmp_path, "dataset: models.py:load\nmodel: models.py:build\n"
                        "loss_weights: {type: simplex}\nobjectives: [item, size]\n"
                        "constraints: {group: {min: 0.9}}\nparams:\n"
                        "  activation: {type: choice, values: [relu, gelu]}\n  units: 32\n")
    )  # fmt: skip
    # Files named in a space file are found beside it, wherever the search runs from.
    assert space.settings == {"data": f"{tmp_path / 'models.py'}:load",
                              "model": f"{tmp_path / 'models.py'}:build"}  # fmt: skip
    assert space.simplex and space.objectives == ("item", "size")
    assert space.constraints == {"group": {"min": 0.9}}
    assert space.params["activation"].values == ("relu", "gelu")
    assert space.constants == {"units": 32}
