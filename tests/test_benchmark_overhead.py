"""`benchmarks/overhead.py`: the same configurations through tune-mtl and in bare loops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.launch import BenchmarkError
from benchmarks.overhead import compare, same_config
from tests.conftest import REPO, cli_env

CONFIGS = [{"gamma": 0.1, "trunk_filters": 16}, {"gamma": 0.2, "trunk_filters": 32},
           {"gamma": 0.3, "trunk_filters": 16}, {"gamma": 0.4, "trunk_filters": 32}]  # fmt: skip


def _search(ends: list[tuple[float, int, dict[str, Any]]], status: str = "completed") -> dict:
    trials = [
        {"id": f"t{i}", "status": status, "end_s": end, "pid": pid, "trial_s": 20.0,
         "config": config}
        for i, (end, pid, config) in enumerate(ends)
    ]  # fmt: skip
    return {"fit_start_s": 5.0, "trials": trials}


def test_a_repeat_compares_warm_trials_with_the_same_configurations_bare() -> None:
    # Workers 1 and 2 each train two configurations; the first of each pays the start-up.
    search = _search([(30.0, 1, CONFIGS[0]), (35.0, 2, CONFIGS[1]),
                      (52.0, 1, {**CONFIGS[3], "gamma": 0.4 * (1 + 1e-12)}),  # read back from CSV
                      (60.0, 2, CONFIGS[2])])  # fmt: skip
    bare = [{"id": f"config{i}", "slot_s": slot} for i, slot in enumerate([9.0, 9.0, 20.0, 22.0])]
    result = compare(search, bare, CONFIGS)
    assert result["configs"] == [2, 3]
    assert result["search_slot_s"] == pytest.approx((22.0 + 25.0) / 2)
    assert result["bare_slot_s"] == pytest.approx((20.0 + 22.0) / 2)
    assert result["ratio"] == pytest.approx(42.0 / 47.0)
    assert result["search_in_trial_s"] == 20.0


def test_a_repeat_that_trained_other_configurations_stops_the_benchmark() -> None:
    other = _search([(30.0, 1, CONFIGS[0]), (40.0, 1, {"gamma": 0.9, "trunk_filters": 16})])
    with pytest.raises(BenchmarkError, match=r"'gamma': 0.9.*same ones every repeat"):
        compare(other, [], CONFIGS)
    stopped = _search([(30.0, 1, CONFIGS[0])], status="stopped")
    with pytest.raises(BenchmarkError, match=r"\(stopped\)"):
        compare(stopped, [], CONFIGS)
    cold = _search([(30.0, 1, CONFIGS[0]), (31.0, 2, CONFIGS[1])])
    with pytest.raises(BenchmarkError, match="raise --configs above --concurrency"):
        compare(cold, [], CONFIGS)


def test_configurations_match_to_rounding_only() -> None:
    assert same_config({"gamma": 0.3, "act": "relu"}, {"gamma": 0.3 + 1e-17, "act": "relu"})
    assert not same_config({"gamma": 0.3}, {"gamma": 0.31})
    assert not same_config({"gamma": 0.3, "act": "relu"}, {"gamma": 0.3, "act": "gelu"})
    assert not same_config({"gamma": 0.3}, {"gamma": 0.3, "dropout": 0.1})


# Four searches and four bare loops, over a minute on 2 cores; `compare` is tested above.
@pytest.mark.slow
def test_the_smoke_preset_writes_a_page_of_paired_repeats(tmp_path: Path) -> None:
    out = tmp_path / "overhead.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/overhead.py", "--smoke", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["first"] for r in record["repeats"]] == ["tune-mtl", "bare"]
    # One worker: its first trial is left out, the second is compared, in both repeats.
    assert [r["configs"] for r in record["repeats"]] == [[1], [1]]
    assert all(r["ratio"] > 0 for r in record["repeats"])
    page = out.read_text()
    assert "python benchmarks/overhead.py --smoke" in page
    assert "over 2 repeats" in page and "## Machine" in page
