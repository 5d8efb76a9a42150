"""`benchmarks/search_efficiency.py --smoke` runs every arm, end to end, and writes its
page, plot and raw numbers. It checks the plumbing, not the numbers: a few seconds of budget on
two CPUs are too few for a search to complete a trial. Without KerasTuner it skips arm (f), says
so, and runs the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import ARM_LABELS
from tests.conftest import REPO, cli_env
from tune_mtl.space import default_space_path, load_space

pytestmark = pytest.mark.e2e


# Eight short searches (six arms, two memory runs), over two minutes on 2 cores. The default suite
# runs the harness with arms (b) and (e) below, and arm (f)'s Hyperband in
# test_benchmark_kerastuner.py.
@pytest.mark.slow
def test_the_smoke_preset_writes_a_row_per_arm(tmp_path: Path) -> None:
    arms = ["a", "b", "c", "d", "e", "f"]
    out = tmp_path / "out" / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/search_efficiency.py", "--smoke", "--out", str(out),
         "--workdir", str(tmp_path / "work")],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    page = out.read_text()
    header = next(line for line in page.splitlines() if line.startswith("| arm | final test"))
    table = page.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    assert [row.split(" | ")[0].lstrip("| ") for row in table] == [ARM_LABELS[a] for a in arms]
    assert all(len(row.split(" | ")) == len(header.split(" | ")) for row in table)
    assert "python benchmarks/search_efficiency.py --smoke" in page
    assert "## Machine" in page and "### Targets" in page
    # The reference point is each task's constant predictor on validation, not chance accuracy:
    # synthetic's classes are balanced, so the most frequent class scores 1/4 and 1/2.
    reference = "shape accuracy 0.2500, family accuracy 0.5000"
    assert "each task's constant predictor, not chance accuracy" in page and reference in page
    assert done.stdout.count(f"above the constant predictors ({reference})") == len(arms)

    record = json.loads(out.with_suffix(".json").read_text())
    assert [run["arm"] for run in record["runs"]] == arms
    for run in record["runs"]:
        tasks = run["objectives"]["tasks"]
        assert [(t["name"], t["reference"]) for t in tasks] == [("shape", 0.25), ("family", 0.5)]
        assert all(len(trial["val"]) == 2 for trial in run["trials"])
    assert all(run["samples"] and run["processes_seen"] >= 1 for run in record["runs"])
    assert set(record["memory"]) == {"1", "2"}
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Arm (f) ran KerasTuner: its first trial trains at least one epoch before the deadline
    # callback can stop it, on the default space's parameters.
    kerastuner = record["runs"][-1]
    assert kerastuner["kind"] == "kerastuner" and record["skipped"] == {}
    assert kerastuner["trials"] and kerastuner["trials"][0]["id"] == "0000"
    params = set(load_space(default_space_path()).params)
    for trial in kerastuner["trials"]:
        assert trial["status"] in ("completed", "stopped") and trial["epochs"] >= 1
        assert set(trial["config"]) == params and trial["end_s"] > 0
        assert trial["test"] is None or trial["end_s"] <= kerastuner["budget_s"]
    assert "skipped" not in done.stdout


def test_without_kerastuner_arm_f_is_skipped_in_one_line(tmp_path: Path) -> None:
    # A sitecustomize that makes `import keras_tuner` fail in the driver and its arms.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import sys\nsys.modules['keras_tuner'] = None\n"
    )
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path / 'site'}:{env['PYTHONPATH']}"
    out = tmp_path / "out" / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/search_efficiency.py", "--smoke", "--arms", "b,e,f",
         "--no-checks", "--out", str(out), "--workdir", str(tmp_path / "work")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    line = "arm (f) skipped: KerasTuner is not installed; pip install -e '.[bench]'"
    assert [row for row in done.stdout.splitlines() if "skipped" in row] == [
        line + " (or make install) adds it."
    ]
    record = json.loads(out.with_suffix(".json").read_text())
    assert [run["arm"] for run in record["runs"]] == ["b", "e"] and list(record["skipped"]) == ["f"]
    assert all(run["samples"] for run in record["runs"])
    assert "memory" not in record
    page = out.read_text()
    assert "A" + line[1:] in page
    assert f"| {ARM_LABELS['b']} | " in page and f"| {ARM_LABELS['e']} | " in page
    assert f"| {ARM_LABELS['f']} | " not in page
