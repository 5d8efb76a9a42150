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
    assert default.settings["dataset"] == "fashion_mnist"
    assert default.params["gamma"].kind == "uniform"
    assert (default.params["gamma"].low, default.params["gamma"].high) == (0.0, 1.0)
    assert default.params["learning_rate"].kind == "loguniform"
    assert {"task1_width", "task2_width"} <= set(default.params)

    sweep = load_space(ROOT / "search_spaces" / "seed_gamma_sweep.yaml")
    assert sweep.is_grid
    assert [point["gamma"] for point in sweep.grid()] == [0.0, 0.5, 1.0]
    assert sweep.settings == {
        "dataset": "cifar10", "model": "seed", "max_epochs": 15,
        "batch_size": 128, "scheduler": "none",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("params:\n  gamma: {type: uniform, low: 0, high: 1}\nepochs: 3\n", "`epochs` is 3"),
        ("params:\n  gama: {type: uniform, low: 0, high: 1}\n", "`params.gama`"),
        ("params:\n  gamma: {type: normal, low: 0, high: 1}\n", "`params.gamma.type` is 'normal'"),
        ("params:\n  learning_rate: {type: uniform, low: 0.1, high: 0.01}\n", "`low <= high`"),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1.5}\n", "gamma must lie in [0, 1]"),
        ("params:\n  gamma: 1.2\n", "`params.gamma` is 1.2"),
        ("params:\n  gamma: {type: grid, values: [0, -0.1]}\n", "gamma must lie in [0, 1]"),
        ("params:\n  task1_width: {type: int, low: 0, high: 64}\n", "task1_width must be > 0"),
        ("params:\n  shared_width: {type: choice, values: [64, -1]}\n", "shared_width must be > 0"),
        ("params:\n  trunk_filters: 0\n", "trunk_filters must be > 0"),
        ("params:\n  learning_rate: {type: loguniform, low: 0, high: 0.1}\n", "low > 0"),
        ("params:\n  gamma: {type: uniform, low: 0}\n", "needs high"),
        ("params:\n  gamma: {type: uniform, low: 0, high: 1, step: 2}\n", "uniform takes only"),
        ("params:\n  task1_width: {type: int, low: 1.5, high: 8}\n", "whole numbers"),
        ("max_epochs: 0\nparams:\n  gamma: 0.5\n", "`max_epochs` is 0"),
        ("params: {}\n", "`params`"),
        ("params:\n  gamma: {type: grid, values: [0, 1]}\n  dropout: {type: uniform, low: 0, high: 0.5}\n",
         "a grid space takes only grids and constants"),
        ("params: [\n", "not valid YAML at line"),
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


def test_missing_file_names_it_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(TuneMtlError, match="does not exist; pass --space"):
        load_space(tmp_path / "nope.yaml")


def test_constants_and_settings_are_kept(tmp_path: Path) -> None:
    space = load_space(
        write(tmp_path, "batch_size: 64\nparams:\n  gamma: {type: uniform, low: 0.2, high: 0.8}\n"
                        "  dropout: 0.25\n  task2_width: {type: int, low: 8, high: 64, log: true}\n")
    )  # fmt: skip
    assert space.constants == {"dropout": 0.25}
    assert space.settings == {"batch_size": 64}
    assert space.params["task2_width"].log is True
    assert not space.is_grid
