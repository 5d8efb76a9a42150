"""The builder checked on the driver: searched parameters that nothing reads are named, and
loss weights that no trial searches are pointed out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tune_mtl.errors import TuneMtlError
from tune_mtl.problem import prepare_problem
from tune_mtl.space import default_space_path, load_space

WARNING = "searched, but neither the model builder nor tune-mtl reads"
FIXED = "searches no loss weights"


def warnings_of(
    space_path: Path, *, model: str = "small", data: str = "synthetic", about: str = WARNING
) -> list[str]:
    lines: list[str] = []
    prepare_problem(load_space(space_path), data=data, model=model, data_dir=None, seed=0,
                    echo=lines.append)  # fmt: skip
    return [line.strip() for line in lines if about in line]


def test_misspelt_parameters_are_named_and_used_ones_are_not(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "params:\n"
        "  gama: {type: uniform, low: 0.0, high: 1.0}\n"
        "  learning_rat: {type: loguniform, low: 1.0e-3, high: 1.0e-2}\n"
        "  shared_width: {type: int, low: 16, high: 64}\n"
        "  weighting: {type: choice, values: [static, dwa]}\n"
        "  dwa_temperature: {type: uniform, low: 0.5, high: 5, when: {weighting: dwa}}\n"
    )
    assert warnings_of(space) == [
        f"warning: gama, learning_rat in space.yaml are {WARNING} them; check the spelling, "
        "or take them out of params."
    ]


def test_every_parameter_of_the_default_space_is_read_by_the_default_model() -> None:
    assert warnings_of(default_space_path()) == []
    assert warnings_of(default_space_path(), about=FIXED) == []


def test_a_space_without_loss_weights_says_they_are_fixed(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text("params:\n  learning_rate: {type: loguniform, low: 1.0e-3, high: 1.0e-2}\n")
    assert warnings_of(fixed, about=FIXED) == [
        f"note: fixed.yaml {FIXED}, so every task weighs 1/2; add `gamma` (two tasks) or "
        "`loss_weights: {type: simplex}` to search them."
    ]
    constant = tmp_path / "constant.yaml"
    constant.write_text(fixed.read_text() + "  gamma: 0.3\n")
    learned = tmp_path / "learned.yaml"
    learned.write_text(fixed.read_text() + "  weighting: uncertainty\n")
    for searched in (constant, learned):
        assert warnings_of(searched, about=FIXED) == [], searched.name


def test_a_model_without_branches_leaves_branch_width_unread() -> None:
    assert warnings_of(default_space_path(), model="lenet", data="fashion_mnist") == [
        f"warning: branch_width in default.yaml is {WARNING} it; check the spelling, or take it "
        "out of params."
    ]


def test_every_value_of_a_choice_the_builder_reads_is_checked_before_the_search(
    tmp_path: Path,
) -> None:
    space = tmp_path / "space.yaml"
    space.write_text(
        "params:\n"
        "  gamma: {type: uniform, low: 0.0, high: 1.0}\n"
        "  padding: {type: choice, values: [same, vald]}\n"
    )
    with pytest.raises(TuneMtlError) as refused:
        warnings_of(space)
    assert str(refused.value) == (
        f"{space}: `params.padding` value 'vald': padding is 'vald', but the built-in models take "
        "valid or same; set padding to one of them in the space file."
    )
    space.write_text(space.read_text().replace("vald", "valid"))
    assert warnings_of(space) == []


def test_a_users_builder_that_refuses_a_choice_is_named_with_the_value(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(
        "import keras\n"
        "from tune_mtl.model import build_small\n\n"
        "def build(hp, tasks):\n"
        "    keras.activations.get(hp['activation'])\n"
        "    return build_small(hp, tasks, input_shape=(12, 12, 1))\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "params:\n"
        "  gamma: {type: uniform, low: 0.0, high: 1.0}\n"
        "  activation: {type: choice, values: [relu, gelu, relux]}\n"
    )
    with pytest.raises(TuneMtlError) as refused:
        warnings_of(space, model=f"{tmp_path / 'models.py'}:build")
    assert str(refused.value).startswith(
        f"{space}: `params.activation` value 'relux': the model builder 'build' raised ValueError: "
    )
    assert str(refused.value).endswith("; fix it.")


def test_the_builder_is_checked_on_the_first_start_point(tmp_path: Path) -> None:
    """The search tries the first `start:` point first; the middle of a range may be a value
    the user's builder refuses and the search never asks for."""
    (tmp_path / "models.py").write_text(
        "from tune_mtl.model import build_small\n\n"
        "def build(hp, tasks):\n"
        "    if hp['width'] > 30 or hp['activation'] == 'gelu':\n"
        "        raise ValueError(f\"width {hp['width']}, {hp['activation']}: too big\")\n"
        "    return build_small(hp, tasks, input_shape=(12, 12, 1))\n"
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "params:\n"
        "  gamma: {type: uniform, low: 0.0, high: 1.0}\n"
        "  width: {type: int, low: 8, high: 64}\n"
        "  activation: {type: choice, values: [gelu, relu]}\n"
    )
    model = f"{tmp_path / 'models.py'}:build"
    with pytest.raises(TuneMtlError, match="raised ValueError: width 36, gelu: too big"):
        warnings_of(space, model=model)
    space.write_text(space.read_text() + "start:\n  - {width: 20, activation: relu}\n")
    with pytest.raises(TuneMtlError, match="`params.activation` value 'gelu': .* width 20, gelu"):
        warnings_of(space, model=model)
    space.write_text(space.read_text().replace("[gelu, relu]", "[relu]"))
    assert warnings_of(space, model=model) == []
