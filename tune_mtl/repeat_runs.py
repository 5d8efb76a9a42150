"""The extra runs of ``--repeats``: each candidate trained again with other seeds, as Ray trials.

They run as one more Ray Tune experiment, ``NAME-repeats`` beside the search's own, so they run in
parallel, on a cluster, and a search interrupted during them resumes them from their checkpoints.
`tune_mtl.repeats` chooses the candidates and aggregates what comes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune.logger import JsonLoggerCallback

from tune_mtl.cluster import Storage
from tune_mtl.experiment_state import mend_experiment_state, put_back_named_checkpoints
from tune_mtl.options import SearchOptions
from tune_mtl.repeats import SEED_KEY
from tune_mtl.text import counted
from tune_mtl.trainable import RUN_KEY, TrialData, TrialSettings, train_repeat

__all__ = ["Run", "run_repeats", "REPEATS_SUFFIX"]

REPEATS_SUFFIX = "-repeats"


@dataclass(frozen=True)
class Run:
    """One extra run of a candidate: its seed, last validation metrics and checkpoint (None when
    it failed)."""

    trial_id: str
    seed: int
    metrics: dict[str, Any]
    checkpoint: tune.Checkpoint | None


def run_repeats(
    configs: dict[str, dict[str, Any]],
    seeds: list[int],
    *,
    options: SearchOptions,
    storage: Storage,
    data: TrialData,
    settings: TrialSettings,
    echo: Callable[[str], Any],
) -> tuple[list[Run], float]:
    """Trains every candidate (trial ID -> configuration) once per seed; returns the runs and the
    seconds they took."""
    plan = [(trial_id, seed) for trial_id in configs for seed in seeds]
    runs = [{**configs[trial_id], SEED_KEY: seed} for trial_id, seed in plan]
    trainable = tune.with_resources(
        tune.with_parameters(train_repeat, runs=runs, data=data, settings=settings),
        {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial},
    )
    name = f"{options.name}{REPEATS_SUFFIX}"
    path = storage.experiment_path(name)
    echo(
        f"Training the {counted(len(configs), 'candidate')} {counted(len(seeds), 'more time')} "
        f"each, with {'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))} "
        f"({counted(len(plan), 'trial')}) ..."
    )
    started = time.perf_counter()
    if tune.Tuner.can_restore(path, storage_filesystem=storage.filesystem):
        mend_experiment_state(storage, name)
        put_back_named_checkpoints(storage, name)
        tuner = tune.Tuner.restore(
            path, trainable=trainable, resume_errored=True, storage_filesystem=storage.filesystem
        )
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={RUN_KEY: tune.grid_search(list(range(len(plan))))},
            tune_config=tune.TuneConfig(
                max_concurrent_trials=options.concurrency, reuse_actors=True
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage.root,
                storage_filesystem=storage.filesystem,
                verbose=0,
                callbacks=[JsonLoggerCallback()],  # result.json, where Ray reads metrics from
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                failure_config=tune.FailureConfig(max_failures=options.max_failures),
            ),
        )
    grid = tuner.fit()
    seconds = time.perf_counter() - started
    ended = grid.num_terminated + grid.num_errors
    if ended < len(plan):  # Ctrl-C: Ray saved the runs' state, and resume continues them
        raise options.interrupted(
            f"{ended} of {len(plan)} extra runs of the front's candidates done"
        )
    done = []
    for index in range(len(grid)):
        result = grid[index]
        trial_id, seed = plan[int((result.config or {})[RUN_KEY])]
        failed = result.error is not None or result.metrics is None
        done.append(Run(trial_id, seed, {} if failed else dict(result.metrics or {}),
                        None if failed else result.checkpoint))  # fmt: skip
    echo(f"  {sum(run.checkpoint is not None for run in done)} of {len(plan)} runs completed "
         f"({seconds:.0f} s)")  # fmt: skip
    return done, seconds
