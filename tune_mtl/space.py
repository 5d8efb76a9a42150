"""Search-space files: YAML with run settings and hyperparameter distributions, checked on load.

```yaml
data: fashion_mnist             # run settings; command-line flags override them
model: models.py:build          # a built-in name, module:function or file.py:function
max_epochs: 9
loss_weights: {type: simplex}   # search one weight per task, uniformly on the simplex
objectives: [item, size]        # default: every task that is not a constraint
constraints: {group: {min: 0.9}}
params:
  learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
  branch_width: {type: int, low: 16, high: 256, log: true}
  activation: {type: choice, values: [relu, gelu]}
  dropout: 0.1                  # a constant
start:                          # tried first, in this order; unnamed parameters are sampled
  - {learning_rate: 1.0e-3, branch_width: 64, activation: relu}
```

Parameters are whatever the model builder reads; the ones tune-mtl itself reads are checked for
range (``gamma`` and ``dropout`` in [0, 1], ``learning_rate``, widths and ``dwa_temperature``
positive, ``gradnorm_alpha`` >= 0, ``weighting`` one of `tune_mtl.weighting.STRATEGIES`).

A distribution with ``when: {PARAM: VALUE}`` (or ``{PARAM: [VALUE, ...]}``) is sampled only for
trials whose ``PARAM``, a parameter above it in the file, took one of those values; the others
neither sample nor receive it. Its use is a strategy's own settings
(``dwa_temperature: {type: uniform, low: 0.5, high: 5, when: {weighting: dwa}}``, see
`tune_mtl.weighting`). A ``grid``
distribution (``{type: grid, values: [0, 0.5, 1]}``) turns the file into a grid search: every
other parameter must then be a grid or a constant.

``start:`` lists configurations to try before the sampler proposes any, as Optuna's
``enqueue_trial`` and Ray Tune's ``points_to_evaluate`` do: a known-good configuration then
competes from the first minute. Each names searched parameters only, with values inside their
distributions; a conditional parameter only where its condition holds. The schedulers run them to
``max_epochs`` (`tune_mtl.schedulers.start_points`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import Any

import yaml

from tune_mtl.errors import TuneMtlError
from tune_mtl.weighting import ALPHA_PARAM, STRATEGIES, TEMPERATURE_PARAM, WEIGHTING_PARAM
from tune_mtl.weights import SIMPLEX_PREFIX, WEIGHT_PREFIX

__all__ = ["Distribution", "SearchSpace", "load_space", "default_space_path", "SETTINGS"]


# Run settings a file may hold, with their type.
SETTINGS: dict[str, type] = {
    "data": str,
    "model": str,
    "max_epochs": int,
    "batch_size": int,
    "examples_per_epoch": int,
    "scheduler": str,
    "sampler": str,
    "repeats": int,
    "learning_rate_schedule": str,
    "reduction_factor": int,
}
KINDS = {
    "uniform": {"low", "high"},
    "loguniform": {"low", "high"},
    "int": {"low", "high", "log", "step"},
    "choice": {"values"},
    "grid": {"values"},
}
# Search-level keys beside the run settings and params.
SEARCH_KEYS = ("loss_weights", "objectives", "constraints", "start")
ALIASES = {"dataset": "data"}
POSITIVE = {"learning_rate", "shared_width", "branch_width", "trunk_filters", TEMPERATURE_PARAM}
UNIT_INTERVAL = {
    "gamma": (0.0, 1.0, "[0, 1]"),
    "dropout": (0.0, 0.95, "[0, 0.95]"),
    ALPHA_PARAM: (0.0, float("inf"), "[0, inf)"),
}
INTEGER = {"shared_width", "branch_width", "trunk_filters"}
RESERVED_PREFIXES = (SIMPLEX_PREFIX, WEIGHT_PREFIX)


@dataclass(frozen=True)
class Distribution:
    """One searched hyperparameter: a range (uniform, loguniform, int) or a list (choice, grid)."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: int = 1
    values: tuple[Any, ...] = ()
    # Sampled only when each named parameter took one of its values: ((name, (value, ...)), ...).
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    path: Path
    params: dict[str, Distribution]
    constants: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    simplex: bool = False  # loss_weights: {type: simplex}
    objectives: tuple[str, ...] = ()
    constraints: dict[str, dict[str, float]] = field(default_factory=dict)
    # Configurations tried first (``start:``), each a subset of the searched parameters.
    start: tuple[dict[str, Any], ...] = ()

    @property
    def is_grid(self) -> bool:
        return any(d.kind == "grid" for d in self.params.values())

    @property
    def strategies(self) -> tuple[str, ...]:
        """The loss weightings a trial of this space can have (`tune_mtl.weighting`)."""
        if WEIGHTING_PARAM in self.params:
            return tuple(self.params[WEIGHTING_PARAM].values)
        return (str(self.constants.get(WEIGHTING_PARAM, "static")),)

    def grid(self) -> list[dict[str, Any]]:
        """Every point of a grid space, in file order."""
        names = list(self.params)
        return [
            dict(zip(names, point, strict=True))
            for point in product(*(self.params[name].values for name in names))
        ]


def default_space_path() -> Path:
    """`search_spaces/default.yaml` of a source checkout, else the copy installed with it."""
    name = Path("search_spaces") / "default.yaml"
    for root in (Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / "tune-mtl"):
        if (root / name).is_file():
            return root / name
    raise TuneMtlError(
        f"no {name} next to the package or in {sys.prefix}/share/tune-mtl; pass --space FILE."
    )


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, value: Any, rule: str) -> TuneMtlError:
        return TuneMtlError(f"{self.path}: `{key}` is {value!r}, but {rule}.")

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, str):  # YAML 1.1 reads `1e-4` (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, value, "it must be a number")
        return float(value)

    def distribution(self, name: str, spec: dict[str, Any]) -> Distribution:
        key = f"params.{name}"
        kind = spec.get("type")
        if kind is None:
            raise TuneMtlError(
                f"{self.path}: `{key}` has no `type`; give it one of {', '.join(KINDS)}."
            )
        if kind not in KINDS:
            raise self.fail(f"{key}.type", kind, f"it must be one of {', '.join(KINDS)}")
        unknown = sorted(set(spec) - KINDS[kind] - {"type", "when"})
        if unknown:
            allowed = ", ".join(sorted(KINDS[kind]))
            raise self.fail(f"{key}.{unknown[0]}", spec[unknown[0]], f"{kind} takes only {allowed}")
        missing = sorted(k for k in KINDS[kind] - {"log", "step"} if k not in spec)
        if missing:
            raise self.fail(f"{key}.{missing[0]}", None, f"{kind} needs {' and '.join(missing)}")
        if kind in ("choice", "grid"):
            values = spec["values"]
            if not isinstance(values, list) or not values:
                raise self.fail(f"{key}.values", values, "it must be a non-empty list")
            for value in values:
                self.value(name, value, key=f"{key}.values")
            distribution = Distribution(kind, values=tuple(self.cast(name, v) for v in values))
        else:
            low, high = (
                self.number(f"{key}.low", spec["low"]),
                self.number(f"{key}.high", spec["high"]),
            )
            if low > high:
                raise self.fail(
                    f"{key}.low", spec["low"], f"`low <= high` must hold (high is {spec['high']})"
                )
            if kind == "loguniform" and low <= 0:
                raise self.fail(f"{key}.low", low, "loguniform needs low > 0")
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise self.fail(f"{key}.log", log, "it must be true or false")
            step = spec.get("step", 1)
            if kind == "int" and (not isinstance(step, int) or step < 1):
                raise self.fail(f"{key}.step", step, "it must be a whole number >= 1")
            if kind == "int" and (low != int(low) or high != int(high)):
                raise self.fail(key, [low, high], "int bounds must be whole numbers")
            if log and step != 1:
                raise self.fail(f"{key}.step", step, "Optuna takes no step with `log: true`; "
                                "drop one of them")  # fmt: skip
            if log and low < 1:
                raise self.fail(f"{key}.low", spec["low"], "`log: true` needs low >= 1")
            distribution = Distribution(kind, low=low, high=high, log=log, step=step)
            for bound in ("low", "high"):
                self.value(name, spec[bound], key=f"{key}.{bound}")
        return distribution

    def cast(self, name: str, value: Any) -> Any:
        """A checked value as the model reads it: int for widths, float for known reals."""
        if name in INTEGER:
            return int(value)
        if name in POSITIVE or name in UNIT_INTERVAL:
            return float(value)
        return value

    def value(self, name: str, value: Any, *, key: str) -> None:
        if name == WEIGHTING_PARAM and value not in STRATEGIES:
            raise self.fail(key, value, f"{name} must be one of {', '.join(STRATEGIES)}")
        if name not in POSITIVE and name not in UNIT_INTERVAL and not name.endswith("_width"):
            if not isinstance(value, (bool, int, float, str)):
                raise self.fail(key, value, "it must be a number, a string or true/false")
            return
        number = self.number(key, value)
        if (name in INTEGER or name.endswith("_width")) and number != int(number):
            raise self.fail(key, value, "it must be a whole number")
        if (name in POSITIVE or name.endswith("_width")) and number <= 0:
            raise self.fail(key, value, f"{name} must be > 0")
        if name in UNIT_INTERVAL:
            low, high, text = UNIT_INTERVAL[name]
            if not low <= number <= high:
                raise self.fail(key, value, f"{name} must lie in {text}")

    def setting(self, key: str, value: Any) -> Any:
        wanted = SETTINGS[key]
        if wanted is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise self.fail(key, value, "it must be a whole number >= 1")
        if wanted is str and not isinstance(value, str):
            raise self.fail(key, value, "it must be a string")
        if key in ("data", "model") and ".py:" in value:
            # A file named in a space file is found beside the space file, wherever one runs.
            file, _, function = value.rpartition(":")
            if not Path(file).expanduser().is_absolute():
                return f"{(self.path.parent / file).resolve()}:{function}"
        return value


def load_space(path: str | Path) -> SearchSpace:
    """Reads and checks a search-space file; any problem is one `TuneMtlError` line."""
    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise TuneMtlError(
            f"search space {path} {state}; pass --space with a YAML file, "
            f"e.g. {default_space_path()}."
        )
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TuneMtlError(f"{path} is not valid YAML{where}; fix the syntax.") from error
    checker = _Checker(path)
    if not isinstance(document, dict):
        raise TuneMtlError(f"{path} must be a YAML mapping with a `params:` section.")
    document = {ALIASES.get(key, key): value for key, value in document.items()}
    known = [*SETTINGS, *SEARCH_KEYS, "params"]
    unknown = sorted(set(document) - set(known))
    if unknown:
        raise checker.fail(
            unknown[0], document[unknown[0]], f"it is not a known key ({', '.join(known)})"
        )
    settings = {
        key: checker.setting(key, value) for key, value in document.items() if key in SETTINGS
    }
    raw_params = document.get("params") or {}
    if not isinstance(raw_params, dict) or not raw_params:
        raise checker.fail(
            "params", raw_params, "it must map hyperparameter names to distributions"
        )
    params: dict[str, Distribution] = {}
    constants: dict[str, Any] = {}
    for name, spec in raw_params.items():
        if not isinstance(name, str) or name.startswith(RESERVED_PREFIXES):
            prefixes = " or ".join(RESERVED_PREFIXES)
            raise checker.fail(
                f"params.{name}", spec, f"names starting with {prefixes} are tune-mtl's own"
            )
        if isinstance(spec, dict):
            params[name] = checker.distribution(name, spec)
            if "when" in spec:
                when = _when(checker, name, spec["when"], params, constants)
                params[name] = replace(params[name], when=when)
        else:
            checker.value(name, spec, key=f"params.{name}")
            constants[name] = checker.cast(name, spec)
    simplex = _simplex(checker, document.get("loss_weights"))
    if simplex and "gamma" in raw_params:
        raise checker.fail(
            "params.gamma", raw_params["gamma"], "loss_weights: {type: simplex} sets the weights; "
            "drop gamma"
        )  # fmt: skip
    objectives = _names(checker, "objectives", document.get("objectives"))
    constraints = _constraints(checker, document.get("constraints"))
    if not params and not simplex:
        first = next(iter(raw_params))
        raise checker.fail(
            f"params.{first}", raw_params[first], "every parameter is a constant, so there is "
            "nothing to search; give one a distribution, or train this configuration as a "
            f"one-point grid ({first}: {{type: grid, values: [{raw_params[first]!r}]}})"
        )  # fmt: skip
    space = SearchSpace(
        path=path, params=params, constants=constants, settings=settings, simplex=simplex,
        objectives=objectives, constraints=constraints,
        start=_start(checker, document.get("start"), params),
    )  # fmt: skip
    if simplex and space.is_grid:
        raise checker.fail(
            "loss_weights", document["loss_weights"], "a grid space cannot search simplex weights"
        )
    if space.is_grid and space.start:
        raise checker.fail("start", document["start"], "a grid space tries every point; drop it")
    conditional = [name for name, d in params.items() if d.when]
    if space.is_grid and conditional:
        raise checker.fail(
            f"params.{conditional[0]}.when",
            raw_params[conditional[0]]["when"],
            "a grid space samples every parameter for every trial; drop `when`",
        )
    mixed = [name for name, d in params.items() if d.kind != "grid"]
    if space.is_grid and mixed:
        raise checker.fail(
            f"params.{mixed[0]}",
            raw_params[mixed[0]],
            "a grid space takes only grids and constants",
        )
    return space


def _when(
    checker: _Checker,
    name: str,
    given: Any,
    params: dict[str, Distribution],
    constants: dict[str, Any],
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``when: {PARAM: VALUE or [VALUE, ...]}``, each PARAM a parameter above ``name``."""
    key = f"params.{name}.when"
    if not isinstance(given, dict) or not given:
        raise checker.fail(key, given, "it must map a parameter above it to a value or a list")
    conditions = []
    for parent, wanted in given.items():
        if parent not in params and parent not in constants:
            raise checker.fail(
                key, given, f"{parent!r} is not a parameter above {name!r} in params"
            )
        values = tuple(wanted) if isinstance(wanted, list) else (wanted,)
        possible = params[parent].values if parent in params else (constants[parent],)
        if parent in params and params[parent].kind not in ("choice", "grid"):
            raise checker.fail(key, given, f"{parent!r} must be a choice to condition on")
        missing = [value for value in values if value not in possible]
        if not values or missing:
            raise checker.fail(key, given, f"{parent!r} takes only {', '.join(map(str, possible))}")
        conditions.append((str(parent), values))
    return tuple(conditions)


def _start(
    checker: _Checker, given: Any, params: dict[str, Distribution]
) -> tuple[dict[str, Any], ...]:
    """``start: [{PARAM: VALUE, ...}, ...]``, each value one its distribution can take."""
    if given is None:
        return ()
    if not isinstance(given, list) or not given:
        raise checker.fail("start", given, "it must be a list of {PARAM: VALUE} mappings")
    points = []
    for index, point in enumerate(given):
        key = f"start[{index}]"
        if not isinstance(point, dict) or not point:
            raise checker.fail(key, point, "it must map searched parameters to values")
        checked = {}
        for name, value in point.items():
            if name not in params:
                raise checker.fail(
                    f"{key}.{name}", value, f"only searched parameters ({', '.join(params)}) "
                    "can start a search"
                )  # fmt: skip
            checker.value(name, value, key=f"{key}.{name}")
            checked[name] = _inside(checker, f"{key}.{name}", params[name], value)
            for parent, allowed in params[name].when:
                if parent in params and point.get(parent) not in allowed:
                    wanted = " or ".join(map(str, allowed))
                    fix = (
                        f"this point sets {parent}: {point[parent]}, so drop {name} or set "
                        f"{parent}: {wanted}"
                        if parent in point
                        else f"set {parent} in the same point"
                    )
                    raise checker.fail(
                        f"{key}.{name}", value, f"it is sampled only when {parent} is {wanted}; "
                        f"{fix}"
                    )  # fmt: skip
        points.append(checked)
    return tuple(points)


def _inside(checker: _Checker, key: str, distribution: Distribution, value: Any) -> Any:
    """``value`` as the sampler would propose it, if the distribution can."""
    if distribution.kind in ("choice", "grid"):
        if value not in distribution.values:
            choices = ", ".join(map(str, distribution.values))
            raise checker.fail(key, value, f"it must be one of {choices}")
        return distribution.values[distribution.values.index(value)]
    number = checker.number(key, value)
    if not distribution.low <= number <= distribution.high:
        raise checker.fail(
            key, value, f"it must lie in [{distribution.low:g}, {distribution.high:g}]"
        )
    if distribution.kind != "int":
        return number
    if (number - distribution.low) % distribution.step:
        raise checker.fail(key, value, f"it must be low plus a multiple of {distribution.step}")
    return int(number)


def _simplex(checker: _Checker, given: Any) -> bool:
    if given is None:
        return False
    if given != {"type": "simplex"}:
        raise checker.fail("loss_weights", given, "the one form it takes is {type: simplex}")
    return True


def _names(checker: _Checker, key: str, given: Any) -> tuple[str, ...]:
    if given is None:
        return ()
    if not isinstance(given, list) or not given or not all(isinstance(n, str) for n in given):
        raise checker.fail(key, given, "it must be a non-empty list of task names")
    return tuple(given)


def _constraints(checker: _Checker, given: Any) -> dict[str, dict[str, float]]:
    if given is None:
        return {}
    if not isinstance(given, dict) or not given:
        raise checker.fail("constraints", given, "it must map task names to {min: X} or {max: X}")
    constraints = {}
    for task, bounds in given.items():
        key = f"constraints.{task}"
        if not isinstance(bounds, dict) or not bounds or set(bounds) - {"min", "max"}:
            raise checker.fail(key, bounds, "it must be {min: X}, {max: X} or both")
        checked = {
            bound: checker.number(f"{key}.{bound}", value) for bound, value in bounds.items()
        }
        if checked.get("min", -math.inf) > checked.get("max", math.inf):
            raise checker.fail(
                f"{key}.min", bounds["min"], f"`min <= max` must hold (max is {bounds['max']})"
            )
        constraints[str(task)] = checked
    return constraints
