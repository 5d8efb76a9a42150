"""The weighting benchmark's arms (real space files, read by tune-mtl's own loader) and its
arithmetic on hand-made runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.weighting import ARMS, arm_space, markdown, summarise
from tune_mtl.objectives import Objectives
from tune_mtl.space import default_space_path, load_space
from tune_mtl.tasks import Task

DEFAULT = yaml.safe_load(default_space_path().read_text())
OBJECTIVES = Objectives.for_tasks(
    [Task("item", classes=list("abcdefghij")), Task("group", classes=list("abc"))], [0.1, 0.4]
).to_dict()


@pytest.mark.parametrize("arm", list(ARMS))
def test_each_arm_is_the_default_space_with_its_weighting(arm: str, tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(arm_space(arm, DEFAULT), sort_keys=False))
    space = load_space(path)
    strategy = ARMS[arm]["strategy"]
    shared = set(DEFAULT["params"]) - {"gamma"}
    assert shared <= set(space.params)
    for name in shared:
        assert space.params[name] == load_space(default_space_path()).params[name]
    # No arm starts from the default space's start configurations (static ones).
    assert space.start == () and load_space(default_space_path()).start != ()
    if strategy == "static":
        assert arm_space(arm, DEFAULT) == {k: v for k, v in DEFAULT.items() if k != "start"}
    else:
        assert "gamma" not in space.params
        assert list(space.params)[0] == "weighting"
        assert arm_space(arm, DEFAULT)["params"]["weighting"]["values"] == [strategy]
    searched = {"dwa, T searched": {"dwa_temperature"}, "gradnorm, alpha searched":
                {"gradnorm_alpha"}}.get(arm, set())  # fmt: skip
    assert set(space.params) - shared - {"gamma", "weighting"} == searched


def _run(arm: str, seed: int, points: list[tuple[float, float]], epoch_s: float) -> dict[str, Any]:
    trials = [
        {"id": f"{arm}{seed}{i}", "status": "completed", "epochs": 4, "end_s": 10.0 + i,
         "trial_s": 4 * epoch_s, "val": list(point), "test": list(point), "config": {}}
        for i, point in enumerate(points)
    ]  # fmt: skip
    return {"arm": arm, "data": "fashion_mnist", "seed": seed, "budget_s": 90.0,
            "objectives": OBJECTIVES, "trials": trials, "other_load_cpus": 0.1}  # fmt: skip


def test_hypervolume_spread_verdict_and_cost_against_static() -> None:
    runs = [
        _run("static", 0, [(0.8, 0.9)], 2.0), _run("static", 1, [(0.9, 0.9)], 2.0),
        # Ahead by more than either spread.
        _run("dwa", 0, [(0.95, 0.96)], 3.0), _run("dwa", 1, [(0.97, 0.96)], 3.0),
        # Within static's spread.
        _run("pcgrad", 0, [(0.85, 0.9)], 4.0), _run("pcgrad", 1, [(0.86, 0.9)], 4.0),
    ]  # fmt: skip
    summary = summarise(runs)["fashion_mnist"]
    # Above the reference (0.1, 0.4): (0.8 - 0.1) * (0.9 - 0.4) = 0.35, and 0.4 for (0.9, 0.9).
    assert summary["static"]["hypervolume"] == pytest.approx([0.35, 0.4])
    assert summary["static"]["sd"] == pytest.approx(0.0354, abs=1e-4)
    assert summary["dwa"]["verdict"] == "ahead"
    assert summary["pcgrad"]["verdict"] == "tie"
    assert summary["static"]["verdict"] == ""
    assert summary["dwa"]["cost"] == pytest.approx(1.5)
    assert summary["pcgrad"]["cost"] == pytest.approx(2.0)
    assert summary["dwa"]["completed"] == [1, 1]
    record = {
        "command": "python benchmarks/weighting.py", "started": "s", "finished": "f",
        "wall_s": 600.0, "json": "weighting.json", "summary": {"fashion_mnist": summary},
        "machine": {"cpu_model": "cpu", "usable_cpus": 2, "git_commit": "abc"},
        "options": {"budget": 90.0, "seeds": [0, 1], "max_epochs": 5,
                    "examples_per_epoch": 4000, "concurrency": 2},
    }  # fmt: skip
    page = markdown(record)
    assert "| dwa | 0.4816 ± 0.0079 | 0.4760, 0.4872 | ahead | 1, 1 | 1.50x | 0.10 CPUs |" in page
