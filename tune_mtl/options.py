"""The settings of one search: defaults, the space file and flags merged and checked."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tune_mtl.errors import SearchInterrupted, TuneMtlError
from tune_mtl.learning_rate import SCHEDULES as LEARNING_RATE_SCHEDULES
from tune_mtl.searcher import GRID_SAMPLER, SAMPLERS
from tune_mtl.space import SearchSpace
from tune_mtl.user_code import BUILTIN_DATA, BUILTIN_MODELS

__all__ = [
    "DEFAULTS",
    "SCHEDULERS",
    "ELAPSED_FILE",
    "SearchOptions",
    "check_run_settings",
    "resolve",
]

SCHEDULERS = ("asha", "mo-asha", "none")
# The seconds an interrupted search had run, so that a resumed one counts them in its wall time.
ELAPSED_FILE = "elapsed.json"
DEFAULTS: dict[str, Any] = {
    "trials": 50,
    "data": "fashion_mnist",
    "model": "small",
    "max_epochs": 27,
    "batch_size": 128,
    "examples_per_epoch": None,
    "sampler": "tpe",
    "scheduler": "asha",
    "repeats": 1,
    "learning_rate_schedule": "constant",
    "reduction_factor": 4,
}


@dataclass(frozen=True)
class SearchOptions:
    """Every setting of one search, after flags, the space file and defaults are merged."""

    trials: int
    # Built-in names or import strings; None for a function defined in a notebook or script.
    data: str | None
    space: Path
    model: str | None
    max_epochs: int
    batch_size: int
    examples_per_epoch: int | None
    concurrency: int | None
    cpus_per_trial: float
    gpus_per_trial: float
    sampler: str
    scheduler: str
    results: Path
    name: str
    seed: int
    data_dir: Path | None
    storage_path: str | None
    max_failures: int
    # Seconds from the start of the trials to their end; None runs until `trials` finished.
    time_budget_s: float | None = None
    # Each trial calls the data loader itself instead of reading the data from Ray's object store.
    load_in_trials: bool = False
    # Runs per front candidate: above 1, the front is chosen on means over seeds (tune_mtl.repeats).
    repeats: int = 1
    learning_rate_schedule: str = "constant"  # one of tune_mtl.learning_rate.SCHEDULES
    # About 1/reduction_factor of the trials that reach a rung of (MO-)ASHA go on to the next.
    reduction_factor: int = 4
    # The cluster given with --address (None: RAY_ADDRESS or a local Ray), for the resume command.
    address: str | None = None

    def resume_command(self) -> str:
        """What resumes this search on the same cluster: the command line, or `tune_mtl.resume`
        where the data or model was a function of a notebook or script, to be passed again."""
        path = self.results / self.name
        passed = [f"{key}=..." for key in ("data", "model") if getattr(self, key) is None]
        if passed:
            cluster = [f"address={self.address!r}"] if self.address else []
            return f"tune_mtl.resume({', '.join([repr(str(path)), *passed, *cluster])}) from Python"
        again = f" --address {self.address}" if self.address else ""
        return f"tune-mtl search --resume {path}{again}"

    def interrupted(self, progress: str) -> SearchInterrupted:
        """The error of this search stopped before its end, ``progress`` saying how far it got;
        it ends with what resumes the search."""
        return SearchInterrupted(
            f"search interrupted with {progress}; its state is saved. Resume it with: "
            f"{self.resume_command()}"
        )

    def to_json(self) -> str:
        fields = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        return json.dumps(fields, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SearchOptions:
        fields = json.loads(text)
        for key in ("space", "results", "data_dir"):
            if fields[key] is not None:
                fields[key] = Path(fields[key])
        return cls(**fields)


def resolve(space: SearchSpace, given: dict[str, Any]) -> dict[str, Any]:
    """A flag given explicitly wins over the space file, which wins over the defaults."""
    flags = {k: v for k, v in given.items() if v is not None}
    merged = {**DEFAULTS, **space.settings, **flags}
    if space.is_grid and given.get("trials") is None:
        merged["trials"] = len(space.grid())

    def source(key: str) -> str:
        """Where a setting came from, when a space file gave it."""
        return f" (in {space.path})" if key in space.settings and key not in flags else ""

    for key, builtins in (("data", BUILTIN_DATA), ("model", BUILTIN_MODELS)):
        value = merged[key]
        if isinstance(value, str) and value not in builtins and ":" not in value:
            raise TuneMtlError(
                f"{key} {value!r}{source(key)} is neither built in ({', '.join(builtins)}) nor "
                "`module:function` / `path/to/file.py:function`; name the function after a colon."
            )
    for key, allowed in (
        ("sampler", SAMPLERS),
        ("scheduler", SCHEDULERS),
        ("learning_rate_schedule", LEARNING_RATE_SCHEDULES),
    ):
        if merged[key] not in allowed:
            raise TuneMtlError(
                f"{key} {merged[key]!r}{source(key)} is not known; choose one of "
                f"{', '.join(allowed)}."
            )
    if space.is_grid:
        merged["sampler"] = GRID_SAMPLER
    for key in ("trials", "max_epochs", "batch_size", "repeats"):
        if merged[key] < 1:
            raise TuneMtlError(f"{key} must be >= 1, but got {merged[key]}{source(key)}.")
    if merged["reduction_factor"] < 2:
        raise TuneMtlError(
            f"reduction_factor must be >= 2 (about 1/reduction_factor of the trials at a rung go "
            f"on), but got {merged['reduction_factor']}{source('reduction_factor')}."
        )
    return merged


def check_run_settings(
    *,
    concurrency: int | None,
    cpus_per_trial: float,
    gpus_per_trial: float,
    max_failures: int,
    time_budget_s: float | None,
) -> None:
    """Raises `TuneMtlError` naming the first setting out of range."""
    if cpus_per_trial <= 0 or gpus_per_trial < 0:
        raise TuneMtlError(
            f"resources per trial must be positive, but got {cpus_per_trial=}, {gpus_per_trial=}."
        )
    if concurrency is not None and concurrency < 1:
        raise TuneMtlError(f"--concurrency must be >= 1, but got {concurrency}.")
    if max_failures < 0:
        raise TuneMtlError(f"--max-failures must be >= 0, but got {max_failures}.")
    if time_budget_s is not None and not time_budget_s > 0:
        raise TuneMtlError(f"--time-budget must be > 0 seconds, but got {time_budget_s}.")
