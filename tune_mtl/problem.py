"""What a search is about, assembled and checked on the driver before anything runs or is written:
the data (with its validation split), the tasks' objectives, and the model builder.

Everything the user gave is checked here, once: the loader's data, the space's objectives and
constraints against the tasks, and the builder, called on the first configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tune_mtl.data import LOADERS, READS_FILES, Dataset, call_loader
from tune_mtl.errors import TuneMtlError
from tune_mtl.objectives import Objectives
from tune_mtl.space import Distribution, SearchSpace, default_space_path
from tune_mtl.user_code import BUILTIN_MODELS, UserCode, bind, function_name, resolve_function
from tune_mtl.weighting import check_strategies

__all__ = ["Problem", "prepare_problem", "first_config", "load_data"]

VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Problem:
    """The checked space, data, objectives and model builder of one search."""

    space: SearchSpace
    dataset: Dataset
    objectives: Objectives
    data_code: UserCode
    model_code: UserCode

    def ship(self, *, load_in_trials: bool) -> tuple[str, ...]:
        """Local code that Ray must upload for the workers: the builder's, and the loader's when
        trials call it."""
        paths = [*self.model_code.ship, *(self.data_code.ship if load_in_trials else ())]
        return tuple(dict.fromkeys(paths))


def _middle(spec: Distribution) -> Any:
    if spec.kind in ("choice", "grid"):
        return spec.values[0]
    middle = (
        math.sqrt(spec.low * spec.high)
        if spec.log or spec.kind == "loguniform"
        else ((spec.low + spec.high) / 2)
    )
    return int(round(middle)) if spec.kind == "int" else middle


def first_config(space: SearchSpace) -> dict[str, Any]:
    """The configuration the builder is checked with: the space's first ``start:`` point, which
    the search tries first; the constants; every other searched value at the middle of its range
    (geometric middle on a log scale), or the first of its choices."""
    middles = {name: _middle(spec) for name, spec in space.params.items()}
    return {**space.constants, **middles, **(space.start[0] if space.start else {})}


def load_data(
    given: str | Callable[[], Any] | Dataset,
    *,
    data_dir: Path | None,
    seed: int,
    flag: str = "--data",
) -> tuple[Dataset, UserCode]:
    """Resolves and calls the loader (or takes a `Dataset` as it is); returns the data set with
    its validation split carved, and the loader. ``flag`` is where ``given`` came from, for
    messages."""
    if isinstance(given, Dataset):
        return given.with_validation(fraction=VAL_FRACTION, seed=seed), UserCode(
            lambda: given, None
        )
    code = resolve_function(given, flag=flag, builtins=LOADERS)
    if data_dir is not None:
        if given not in READS_FILES:
            raise TuneMtlError(
                f"--data-dir applies to the built-in {', '.join(READS_FILES)}, not to "
                f"--data {code.reference or given}; let your loader find its own files."
            )
        if not data_dir.is_dir():
            raise TuneMtlError(
                f"--data-dir {data_dir} is not a directory; pass an existing folder."
            )
        code = bind(code, data_dir=data_dir)
    name = code.reference or str(getattr(code.function, "__name__", "the loader"))
    dataset = call_loader(code.function, name=name)
    return dataset.with_validation(fraction=VAL_FRACTION, seed=seed), code


def _model_code(given: str | Callable[..., Any], dataset: Dataset, *, flag: str) -> UserCode:
    if isinstance(given, str) and given in BUILTIN_MODELS:
        from tune_mtl.model import BUILDERS

        inputs = dataset.train.inputs
        if isinstance(inputs, dict):
            raise TuneMtlError(
                f"the built-in model {given!r} takes one image input, but the data has inputs "
                f"{', '.join(inputs)}; pass your own builder with --model file.py:build."
            )
        code = UserCode(BUILDERS[given], given)
        return bind(code, input_shape=tuple(inputs.shape[1:]))
    return resolve_function(given, flag=flag, builtins={})


def _fit_weights(space: SearchSpace, objectives: Objectives) -> SearchSpace:
    """The default space's ``gamma`` weighs two tasks; for any other number it searches the
    simplex instead. A space file of the user's own with ``gamma`` must say so itself."""
    count = len(objectives.tasks)
    has_gamma = "gamma" in space.params or "gamma" in space.constants
    if not has_gamma or count == 2:
        return space
    if space.path.resolve() == default_space_path().resolve():
        params = {name: spec for name, spec in space.params.items() if name != "gamma"}
        return replace(space, params=params, simplex=True)
    raise TuneMtlError(
        f"{space.path}: gamma weighs two tasks, but the data has {count} "
        f"({', '.join(objectives.task_names)}); use `loss_weights: {{type: simplex}}` instead."
    )


def _weights_fixed(space: SearchSpace, objectives: Objectives) -> bool:
    """Whether every trial weighs the tasks alike, at 1 / N (`tune_mtl.weights`): more than one
    task, no gamma nor simplex, and no weighting that learns the weights instead."""
    return (
        len(objectives.tasks) > 1
        and not space.simplex
        and "gamma" not in space.params
        and "gamma" not in space.constants
        and space.strategies == ("static",)
    )


def _origin(space: SearchSpace, key: str, value: Any) -> str:
    """Where the search's ``key`` setting, ``value``, came from, as messages name it: the space
    file's line, or the flag (which overrides it)."""
    return f"{key} (in {space.path})" if space.settings.get(key) == value else f"--{key}"


def prepare_problem(
    space: SearchSpace,
    *,
    data: str | Callable[[], Any] | Dataset,
    model: str | Callable[..., Any],
    data_dir: Path | None,
    seed: int,
    echo: Callable[[str], Any],
) -> Problem:
    """Loads the data, derives the objectives, and checks the builder on the first configuration.

    Raises:
        TuneMtlError: anything the user gave is wrong; the message names it and the fix.
    """
    dataset, data_code = load_data(
        data, data_dir=data_dir, seed=seed, flag=_origin(space, "data", data)
    )
    echo(f"  {dataset.describe()}")
    objectives = Objectives.for_tasks(
        dataset.tasks,
        dataset.references,
        objectives=space.objectives,
        constraints=space.constraints,
    )
    space = _fit_weights(space, objectives)
    if _weights_fixed(space, objectives):
        count = len(objectives.tasks)
        echo(
            f"  note: {space.path.name} searches no loss weights, so every task weighs 1/{count}; "
            "add `gamma` (two tasks) or `loss_weights: {type: simplex}` to search them."
        )
    model_code = _model_code(model, dataset, flag=_origin(space, "model", model))
    import keras

    check_strategies(space.strategies, backend=keras.config.backend())

    unread = _check_model(space, dataset, model_code.function)
    keras.backend.clear_session()
    if unread:
        one = len(unread) == 1
        echo(
            f"  warning: {', '.join(unread)} in {space.path.name} {'is' if one else 'are'} "
            f"searched, but neither the model builder nor tune-mtl reads {'it' if one else 'them'}"
            f"; check the spelling, or take {'it' if one else 'them'} out of params."
        )
    return Problem(space, dataset, objectives, data_code, model_code)


def _check_model(space: SearchSpace, dataset: Dataset, builder: Callable[..., Any]) -> list[str]:
    """Builds the model on the first configuration and checks its outputs (`build_model`);
    returns the searched parameters that neither the builder nor tune-mtl asked for, such as a
    misspelt name, which would be searched for nothing. Parameters sampled only ``when`` another
    takes some value are left out: the first configuration need not use them."""
    from tune_mtl.building import CHECK_EXAMPLES, Hyperparameters, build_model

    asked: set[str] = set()

    def recording(hp: Any, tasks: Any) -> Any:
        try:
            return builder(hp, tasks)
        finally:
            asked.update(hp.read)

    recording.__name__ = function_name(builder)
    first = first_config(space)
    config = Hyperparameters(first)  # records what tune-mtl itself asks for
    sample = dataset.train.head(CHECK_EXAMPLES)
    build_model(recording, config, dataset.tasks, sample=sample)
    # The builder's own choices, each of their other values too: a value it refuses fails here,
    # not in every trial that draws it.
    for name, spec in space.params.items():
        if spec.kind not in ("choice", "grid") or spec.when or name not in asked:
            continue
        for value in spec.values:
            if value == first[name]:
                continue
            try:
                build_model(builder, {**first, name: value}, dataset.tasks, sample=sample)
            except TuneMtlError as error:
                raise TuneMtlError(
                    f"{space.path}: `params.{name}` value {value!r}: {error}"
                ) from error
    used = asked | config.read
    return [name for name, spec in space.params.items() if not spec.when and name not in used]
