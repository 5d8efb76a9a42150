"""`tune-mtl report`: on a real finished search (the PNGs, the page's links, the page in Chromium),
and on results folders written by hand: three objectives with a regression task, a minimised
metric in the two-objective plane, one objective under a constraint."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from tests.conftest import run_cli
from tune_mtl import plots
from tune_mtl.cli import main
from tune_mtl.errors import TuneMtlError
from tune_mtl.export import export_model
from tune_mtl.objectives import Objectives
from tune_mtl.pareto import hypervolume_2d
from tune_mtl.report import INDEX_FILE, front_members, hypervolume_trajectory, report
from tune_mtl.results import format_front, front_of, hypervolume_of, load_results
from tune_mtl.summary import Summary
from tune_mtl.tasks import Task
from tune_mtl.trial_files import epoch_histories

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
FIGURES = {"front.png", "curves.png", "hypervolume.png"}


@pytest.fixture(scope="module")
def written(synthetic_search, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written by the CLI, as a user runs it, beside the search's own folder."""
    out = tmp_path_factory.mktemp("report") / "report"
    done = run_cli("report", str(synthetic_search.path), "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Report: {out / 'index.html'} (3 figures)" in done.stdout
    return out


@pytest.mark.e2e
def test_every_png_is_a_real_non_blank_image(written: Path) -> None:
    assert {p.name for p in written.glob("*.png")} == FIGURES
    for path in written.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200
        assert pixels[..., :3].var() > 0, path.name


@pytest.mark.e2e
def test_the_page_links_only_files_that_exist(written: Path) -> None:
    page = (written / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert set(links) == FIGURES
    for link in links:
        assert (written / link).is_file()
    assert "http://" not in page and "https://" not in page  # nothing to fetch


@pytest.mark.e2e
def test_the_page_explains_the_missing_importance_and_tabulates_the_front(
    synthetic_search, written: Path
) -> None:
    page = html.unescape((written / "index.html").read_text())
    completed = (pd.read_csv(synthetic_search.path / "trials.csv")["status"] == "completed").sum()
    assert f"needs at least 10 completed trials, but this search has {completed} of 4" in page
    assert "`" not in page  # the note's code is set as code
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv", dtype={"trial_id": str})
    for trial_id in pareto["trial_id"]:
        assert f"<td>{trial_id}</td>" in page
    assert '<tr class="knee"><td>*</td>' in page


@pytest.mark.e2e
def test_embedded_images_need_no_files(synthetic_search, tmp_path: Path) -> None:
    written = report(synthetic_search.path, out=tmp_path / "r", embed_images=True)
    page = written.index.read_text()
    assert page.count('src="data:image/png;base64,') == len(written.figures) == 3
    assert not re.findall(r'src="(?!data:)', page)


@pytest.mark.e2e
def test_hypervolume_trajectory_ends_at_the_search_s_value(synthetic_search) -> None:
    experiment = synthetic_search.path
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())
    histories = epoch_histories(experiment, trials["trial_id"])
    trajectory = hypervolume_trajectory(trials, histories, load_results(experiment).objectives)
    assert trajectory["finished"].tolist() == list(range(1, len(trials) + 1))
    assert sorted(trajectory["trial_id"]) == sorted(trials["trial_id"])
    assert trajectory["hypervolume"].is_monotonic_increasing
    assert trajectory["hypervolume"].iloc[-1] == pytest.approx(summary["hypervolume_val"])
    assert trajectory["front_size"].iloc[-1] == summary["front_size"]
    completed = trials[trials["status"] == "completed"]
    points = completed[["val_shape_accuracy", "val_family_accuracy"]].to_numpy()
    reference = [task["reference"] for task in summary["tasks"]]
    assert summary["hypervolume_reference"] == reference == [0.25, 0.5]
    assert summary["hypervolume_val"] == pytest.approx(hypervolume_2d(points, reference))


PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({src: i.getAttribute("src"),
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({title: document.title, images: images,
    sections: [...document.querySelectorAll("h2")].map(h => h.textContent)});
  document.body.appendChild(out);
});
</script>
<img src="missing.png" alt="a broken image, to show the probe sees one">
"""


@pytest.mark.e2e
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium to render the page (Debian: apt-get install chromium; "
    "`make test` installs it when run as root)",
)
def test_the_page_renders_in_headless_chromium_with_every_image_loaded(
    written: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "report"
    shutil.copytree(written, copy)
    page = (copy / "index.html").read_text()
    (copy / "probe.html").write_text(page.replace("</body>", PROBE + "</body>"))
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
         "--dump-dom", (copy / "probe.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, (done.stdout[-2000:], done.stderr[-2000:])
    rendered = json.loads(html.unescape(found.group(1)))

    assert rendered["title"] == "tune-mtl report: e2e"
    assert rendered["sections"][:2] == ["Pareto front", "Front members"]
    *figures, broken = rendered["images"]
    assert broken == {"src": "missing.png", "complete": True, "width": 0, "height": 0}
    assert {image["src"] for image in figures} == FIGURES
    for image in figures:
        assert image["complete"] and image["width"] > 200 and image["height"] > 200, image


# Results folders written by hand: trials.csv, pareto.csv and summary.json, and nothing else (no
# trial folders, checkpoints or optuna.journal), as when a search's tables are copied elsewhere.

THREE = Objectives.for_tasks(
    [
        Task("item", classes=[f"c{i}" for i in range(10)]),
        Task("group", kind="binary"),
        Task("size", kind="regression"),
    ],
    references=[0.1, 0.5, 3.0],
)
PNG = b"\x89PNG\r\n\x1a\n"


def trials_table(objectives: Objectives, *, count: int, seed: int) -> pd.DataFrame:
    """Trials whose metrics trade off through their loss weights: a front of several members."""
    rng = np.random.default_rng(seed)
    names = objectives.task_names
    weights = rng.dirichlet(np.ones(len(names)), size=count)
    status = np.array(["completed"] * count, dtype=object)
    status[-4:-1], status[-1] = "stopped", "failed"
    table = pd.DataFrame(
        {
            "trial_id": [f"{value:08x}" for value in rng.integers(16**8, size=count)],
            "status": status,
            "learning_rate": rng.uniform(1e-4, 1e-2, count),
            "dropout": rng.uniform(0, 0.5, count),
        }
    )
    for name, share in zip(names, weights.T, strict=True):
        table[f"weight_{name}"] = share
    table["epochs"] = np.where(status == "completed", 5, np.where(status == "stopped", 1, 0))
    # Some trials learn less of every task (and are dominated); stopped ones stop short.
    quality = rng.uniform(0.3, 1.0, count) * np.where(status == "completed", 1.0, 0.4)
    for task, share in zip(objectives.tasks, weights.T, strict=True):
        gain = np.sqrt(share) * quality
        reference = objectives.reference(task.name)
        value = (
            reference + (1 - reference) * 0.9 * gain
            if task.is_classifier
            else reference * (1 - 0.7 * gain)
        )
        value[status == "failed"] = np.nan
        table[task.column("val")] = value
        table[f"best_{task.column('val')}"] = value
    if objectives.constraints:
        table["feasible"] = objectives.feasible(table)
    table["seconds"] = rng.uniform(5, 20, count)
    for column, value in {"node_id": "n1", "node_ip": "127.0.0.1", "cpus": 1.0, "gpus": 0.0,
                          "failures": 0, "error": ""}.items():  # fmt: skip
        table[column] = value
    return table


def write_folder(directory: Path, objectives: Objectives, trials: pd.DataFrame) -> Path:
    """trials.csv, pareto.csv (the front, with test metrics) and summary.json, with pandas."""
    front = front_of(trials, objectives)
    for task in objectives.tasks:
        shift = -0.02 if task.direction == "max" else 0.1
        front[task.column("test")] = front[task.column("val")] + shift
        front[f"test_{task.name}_loss"] = 0.5
    summary = Summary(
        name=directory.name, data="tests:three_tasks", model="small",
        options={"max_epochs": 5, "batch_size": 32, "sampler": "tpe", "scheduler": "asha"},
        **objectives.to_dict(),
        params=["learning_rate", "dropout", *(f"weight_{n}" for n in objectives.task_names)],
        scheduler_metric="val_score",
        status_counts={str(k): int(v) for k, v in trials["status"].value_counts().items()},
        front_size=len(front),
        hypervolume_reference=[objectives.reference(n) for n in objectives.objectives],
        hypervolume_val=hypervolume_of(front, objectives, "val"),
        hypervolume_test=hypervolume_of(front, objectives, "test"),
        knee_trial_id=str(front.loc[front["knee"], "trial_id"].iloc[0]) if len(front) else None,
        wall_seconds=90.0,
    )  # fmt: skip
    directory.mkdir(parents=True)
    trials.to_csv(directory / "trials.csv", index=False)
    front.to_csv(directory / "pareto.csv", index=False)
    (directory / "summary.json").write_text(summary.to_json())
    return directory


@pytest.fixture(scope="module")
def three_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hand") / "three"
    return write_folder(folder, THREE, trials_table(THREE, count=16, seed=5))


@pytest.fixture(scope="module")
def three_tasks_report(three_tasks: Path, tmp_path_factory: pytest.TempPathFactory):
    return report(three_tasks, out=tmp_path_factory.mktemp("three_report") / "report")


def test_the_hand_written_folder_has_a_front_of_several_members(three_tasks: Path) -> None:
    pareto = pd.read_csv(three_tasks / "pareto.csv")
    assert 3 <= len(pareto) < 12
    assert pareto["knee"].sum() == 1


def test_three_objectives_get_a_scatter_matrix_and_parallel_coordinates(three_tasks_report) -> None:
    written = three_tasks_report
    assert set(written.figures) == {"scatter_matrix", "parallel", "curves", "hypervolume"}
    files = {"scatter_matrix.png", "parallel_coordinates.png", "curves.png", "hypervolume.png"}
    assert {p.name for p in written.index.parent.glob("*.png")} == files
    for path in written.figures.values():
        assert path.read_bytes()[:8] == PNG
        pixels = imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 300
        assert pixels[..., :3].var() > 0, path.name
    page = written.index.read_text()
    assert set(re.findall(r'(?:src|href)="([^"]+)"', page)) == files
    assert '<img src="scatter_matrix.png" alt="every pair of objectives on validation">' in page
    assert '<img src="parallel_coordinates.png"' in page


def test_the_scatter_matrix_has_one_panel_per_pair_with_minimised_axes_reversed(
    three_tasks: Path,
) -> None:
    result = load_results(three_tasks)
    figure = plots.scatter_matrix_figure(result.trials, result.pareto, result.objectives)
    shown = [axes for axes in figure.axes if axes.axison and axes.get_xlabel()]
    pairs = {(axes.get_xlabel(), axes.get_ylabel()) for axes in shown}
    assert pairs == {
        ("item accuracy", "group accuracy"),
        ("item accuracy", "size MAE (lower is better)"),
        ("group accuracy", "size MAE (lower is better)"),
    }
    for axes in shown:
        assert axes.yaxis_inverted() == axes.get_ylabel().startswith("size")
        assert not axes.xaxis_inverted()
        # front members (coloured, one per member), other completed trials, knee star
        counts = sorted(len(collection.get_offsets()) for collection in axes.collections)
        assert counts == sorted([len(result.pareto), 1, 12 - len(result.pareto)])


def test_the_page_names_tasks_references_and_the_missing_study(three_tasks_report) -> None:
    page = html.unescape(three_tasks_report.index.read_text())
    assert "item (classification, 10 classes; objective; reference accuracy 0.1)" in page
    assert "group (binary; objective; reference accuracy 0.5)" in page
    assert "size (regression, mse loss; objective, lower is better; reference MAE 3)" in page
    assert "what a constant predictor scores on validation" in page
    assert "<dt>Constraints</dt><dd>none</dd>" in page
    note = three_tasks_report.notes["importance"]
    assert note.startswith("No hyperparameter importance: the folder has no optuna.journal")
    assert f'<p class="note">{note}</p>' in page


def test_the_front_table_has_every_task_and_no_parameter_count_without_checkpoints(
    three_tasks: Path, three_tasks_report
) -> None:
    result = load_results(three_tasks)
    table = front_members(result)
    metrics = [f"{split} {task}" for split in ("val", "test")
               for task in ("item accuracy", "group accuracy", "size MAE")]  # fmt: skip
    assert list(table.columns) == ["knee", "trial", "learning_rate", "dropout", "weight_item",
                                   "weight_group", "weight_size", *metrics, "epochs",
                                   "parameters", "seconds"]  # fmt: skip
    assert table["parameters"].isna().all()
    assert table["test size MAE"].tolist() == pytest.approx(
        (result.pareto["val_size_mae"] + 0.1).tolist()
    )
    page = three_tasks_report.index.read_text()
    for trial_id in result.pareto["trial_id"]:
        assert f"<td>{trial_id}</td>" in page
    assert "<th>test size MAE</th>" in page and "<th>parameters</th>" in page


def test_the_all_trials_table_has_every_column_of_trials_csv(
    three_tasks: Path, three_tasks_report
) -> None:
    page = html.unescape(three_tasks_report.index.read_text())
    section = page.split("<h2>All trials</h2>", 1)[1]
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", section).group(1)
    columns = list(pd.read_csv(three_tasks / "trials.csv").columns)
    assert re.findall(r"<th>(.*?)</th>", header) == columns
    assert "node_ip" in columns and "<td>127.0.0.1</td>" in section


def test_the_hypervolume_trajectory_of_three_objectives_ends_at_the_front_s(
    three_tasks: Path,
) -> None:
    result = load_results(three_tasks)
    trajectory = hypervolume_trajectory(result.trials, {}, result.objectives)
    assert trajectory["hypervolume"].is_monotonic_increasing
    assert trajectory["hypervolume"].iloc[-1] == pytest.approx(result.summary.hypervolume_val)
    assert trajectory["hypervolume"].iloc[-1] > 0
    assert trajectory["front_size"].iloc[-1] == len(result.pareto)


def test_parallel_coordinates_scale_from_the_reference_to_the_front_s_best() -> None:
    # item accuracy, group accuracy, size MAE (minimised); references 0.1, 0.5, 3.0
    front = pd.DataFrame(
        {
            "val_item_accuracy": [0.7, 0.4, 0.05],
            "val_group_accuracy": [0.6, 0.9, 0.55],
            "val_size_mae": [2.0, 1.0, 3.5],
        }
    )
    scaled = plots.parallel_scale(THREE.maximised(front), THREE.reference_point)
    by_hand = [
        [(0.7 - 0.1) / 0.6, (0.6 - 0.5) / 0.4, (3.0 - 2.0) / 2.0],
        [(0.4 - 0.1) / 0.6, (0.9 - 0.5) / 0.4, (3.0 - 1.0) / 2.0],
        [(0.05 - 0.1) / 0.6, (0.55 - 0.5) / 0.4, (3.0 - 3.5) / 2.0],
    ]
    assert scaled == pytest.approx(np.array(by_hand))
    assert scaled[:2] == pytest.approx(np.array([[1, 0.25, 0.5], [0.5, 1, 1]]))


def test_the_parallel_figure_draws_one_line_per_member_and_marks_the_knee(
    three_tasks: Path,
) -> None:
    result = load_results(three_tasks)
    figure = plots.parallel_figure(result.pareto, result.objectives)
    axes = figure.axes[0]
    members = [line for line in axes.get_lines() if len(line.get_xdata()) == 3]
    assert len(members) == len(result.pareto)
    (knee,) = [line for line in members if line.get_label().startswith("knee")]
    knee_id = result.pareto.loc[result.pareto["knee"], "trial_id"].iloc[0]
    assert knee.get_label() == f"knee ({knee_id})"
    expected = plots.parallel_scale(
        result.objectives.maximised(result.pareto), result.objectives.reference_point
    )[result.pareto["knee"].to_numpy()][0]
    assert knee.get_ydata() == pytest.approx(expected)
    assert [tick.get_text() for tick in axes.get_xticklabels()] == [
        "item accuracy", "group accuracy", "size MAE (lower is better)"
    ]  # fmt: skip


def test_the_staircase_bounds_the_front_in_maximised_values() -> None:
    # (item accuracy, -size MAE): two front points and one they dominate
    points = np.array([[0.8, -2.0], [0.5, -1.0], [0.4, -2.5]])
    xs, ys = plots.staircase(points, left=0.1, bottom=-3.0)
    assert xs.tolist() == [0.1, 0.5, 0.5, 0.8, 0.8]
    assert ys.tolist() == [-1.0, -1.0, -2.0, -2.0, -3.0]


def test_two_objectives_with_a_mae_run_its_axis_reversed(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        [Task("item", classes="abcd"), Task("size", kind="regression")], references=[0.25, 3.0]
    )
    folder = write_folder(tmp_path / "two", objectives, trials_table(objectives, count=12, seed=5))
    result = load_results(folder)
    figure = plots.front_figure(result.trials, result.pareto, objectives)
    panels = [axes for axes in figure.axes if axes.get_xlabel() == "item accuracy"]
    assert len(panels) == 3  # validation, completed trials up close, test
    for axes in panels:
        assert axes.get_ylabel() == "size MAE (lower is better)"
        assert axes.yaxis_inverted() and not axes.xaxis_inverted()
    (front_line,) = [line for line in panels[1].get_lines() if line.get_label() == "front"]
    corners = result.pareto.sort_values("val_item_accuracy")
    # The staircase passes through every member in natural units: MAE rises with item accuracy.
    path = set(zip(front_line.get_xdata(), front_line.get_ydata(), strict=True))
    assert set(zip(corners["val_item_accuracy"], corners["val_size_mae"], strict=True)) <= path
    assert corners["val_size_mae"].is_monotonic_increasing

    written = report(folder, out=tmp_path / "report")
    assert set(written.figures) == {"front", "curves", "hypervolume"}
    assert "run reversed, so better is up and right" in written.index.read_text()


def test_one_objective_under_a_constraint(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        [Task("item", classes="abcd"), Task("group", kind="binary")],
        references=[0.25, 0.5],
        constraints={"group": {"min": 0.6}},
    )
    trials = trials_table(objectives, count=12, seed=11)
    # The best item accuracy of all, outside the constraint: it must not make the front.
    trials.loc[0, ["status", "val_item_accuracy", "val_group_accuracy"]] = ["completed", 0.95, 0.55]
    folder = write_folder(tmp_path / "one", objectives, trials)
    result = load_results(folder)
    feasible = trials[(trials["status"] == "completed") & (trials["val_group_accuracy"] >= 0.6)]
    assert result.pareto["val_item_accuracy"].tolist() == [feasible["val_item_accuracy"].max()]

    figure = plots.ranking_figure(result.trials, result.pareto, objectives)
    axes = figure.axes[0]
    outside = [c for c in axes.collections if c.get_label() == "completed, outside the constraints"]
    infeasible = trials[(trials["status"] == "completed") & (trials["val_group_accuracy"] < 0.6)]
    assert len(outside) == 1 and len(outside[0].get_offsets()) == len(infeasible)
    assert outside[0].get_offsets()[:, 1].max() == pytest.approx(0.95)

    written = report(folder, out=tmp_path / "report")
    assert set(written.figures) == {"front", "curves", "hypervolume"}
    assert imread(written.figures["front"])[..., :3].var() > 0
    page = html.unescape(written.index.read_text())
    assert "<dt>Constraints</dt><dd>group >= 0.6</dd>" in page
    assert "group (binary; constraint: group >= 0.6; reference accuracy 0.5)" in page
    all_trials = page.split("<h2>All trials</h2>", 1)[1]
    flags = ["yes" if feasible else "no" for feasible in trials["feasible"]]
    assert sorted(re.findall(r"<td>(yes|no)</td>", all_trials)) == sorted(flags)
    assert "no" in flags


def test_functions_passed_from_python_are_named_so(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        [Task("item", classes="abcd"), Task("group", kind="binary")], references=[0.25, 0.5]
    )
    folder = write_folder(tmp_path / "py", objectives, trials_table(objectives, count=4, seed=3))
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "data": None, "model": None}))
    page = report(folder, out=tmp_path / "report").index.read_text()
    assert "<dt>Data set</dt><dd>passed from Python</dd>" in page
    assert "<dt>Model</dt><dd>passed from Python</dd>" in page


def test_a_front_emptied_by_the_constraints_says_so(tmp_path: Path) -> None:
    objectives = Objectives.for_tasks(
        [Task("item", classes="abcd"), Task("group", kind="binary")],
        references=[0.25, 0.5],
        constraints={"group": {"min": 0.9}},
    )
    trials = trials_table(objectives, count=4, seed=11)
    trials["status"] = ["completed", "completed", "stopped", "failed"]
    trials["val_group_accuracy"] = 0.8
    folder = write_folder(tmp_path / "none", objectives, trials)
    pareto = pd.read_csv(folder / "pareto.csv")  # as a search writes it: no member was tested
    tested = [column for column in pareto if column.startswith("test_")]
    pareto.drop(columns=tested).to_csv(folder / "pareto.csv", index=False)
    result = load_results(folder)
    reason = "no completed trial met the constraints (group >= 0.9)"
    assert format_front(result) == (
        f"Pareto front: 0 of 4 trials: {reason}, so there is no front; 1 trial failed "
        "(trials.csv has the errors)."
    )
    with pytest.raises(TuneMtlError) as refused:
        export_model(result.path, out=tmp_path / "model.keras", knee=True)
    assert str(refused.value).startswith(f"{result.path} has no knee: {reason}, so")
    header = format_front(result, format="csv").split(",")
    assert header[:2] == ["trial_id", "knee"] and "test_group_accuracy" in header
    assert json.loads(format_front(result, format="json")) == []
    page = html.unescape(report(result.path, out=tmp_path / "report").index.read_text())
    assert "<dt>Front</dt><dd>0 trials</dd>" in page
    overview = page.split("<h1>", 1)[1].split("<h2>", 1)[0]
    assert "knee" not in overview.lower() and "tune-mtl export" not in overview


def test_the_trajectory_counts_only_completed_feasible_trials() -> None:
    objectives = Objectives.for_tasks(
        [
            Task("item", classes="abcd"),
            Task("group", kind="binary"),
            Task("size", kind="regression"),
        ],
        references=[0.1, 0.5, 3.0],
        objectives=["item", "size"],
        constraints={"group": {"min": 0.7}},
    )
    trials = pd.DataFrame(
        {
            "trial_id": ["infeasible", "kept", "stopped", "better"],
            "status": ["completed", "completed", "stopped", "completed"],
            "val_item_accuracy": [0.8, 0.5, 0.9, 0.6],
            "val_group_accuracy": [0.6, 0.8, 0.9, 0.75],
            "val_size_mae": [1.0, 2.0, 0.5, 1.5],
        }
    )
    trajectory = hypervolume_trajectory(trials, {}, objectives)
    # (0.5 - 0.1) * (3.0 - 2.0), then the rectangle of (0.6, 1.5) over the reference
    assert trajectory["hypervolume"].tolist() == pytest.approx([0.0, 0.4, 0.4, 0.5 * 1.5])
    assert trajectory["front_size"].tolist() == [0, 1, 1, 1]


def test_front_members_are_coloured_by_strategy_when_the_search_chose_one() -> None:
    from tune_mtl.data import synthetic
    from tune_mtl.plots import STRATEGY_COLOURS, WEIGHT_SCALE, by_strategy, member_colours

    objectives = Objectives.for_tasks(synthetic.TASKS, [0.25, 0.5])
    members = pd.DataFrame(
        {"weighting": ["dwa", "static", "pcgrad"], "weight_shape": [0.2, 0.5, 0.9]}
    )
    assert by_strategy(members)
    assert member_colours(members, objectives) == [
        STRATEGY_COLOURS[s] for s in ("dwa", "static", "pcgrad")
    ]
    without = members.drop(columns="weighting")
    assert not by_strategy(without)
    np.testing.assert_allclose(
        member_colours(without, objectives), WEIGHT_SCALE.to_rgba([0.2, 0.5, 0.9])
    )


def test_with_strategies_every_figure_and_its_text_colour_by_strategy(tmp_path: Path) -> None:
    trials = trials_table(THREE, count=16, seed=5)
    strategies = ["static", "uncertainty", "dwa", "gradnorm"]
    trials["weighting"] = [strategies[i % 4] for i in range(len(trials))]
    result = load_results(write_folder(tmp_path / "weighted", THREE, trials))
    members = result.pareto[~result.pareto["knee"].astype(bool)]
    expected = [plots.STRATEGY_COLOURS[s] for s in members["weighting"]]

    matrix = plots.scatter_matrix_figure(result.trials, result.pareto, THREE)
    assert len(matrix.axes) == 4  # the 2 x 2 panels, no colour bar of loss weights
    parallel = plots.parallel_figure(result.pareto, THREE)
    assert len(parallel.axes) == 1
    drawn = [line.get_color() for line in parallel.axes[0].get_lines() if line.get_marker() == "o"]
    assert drawn == expected and len(set(drawn)) > 1
    assert [text.get_text() for text in parallel.legends[-1].get_texts()] == list(
        dict.fromkeys(result.pareto["weighting"])
    )
    histories = {
        trial_id: pd.DataFrame(
            {
                "training_iteration": [1, 2],
                **{task.column("val"): [0.4, 0.5] for task in THREE.tasks},
            }
        )  # fmt: skip
        for trial_id in trials["trial_id"][:4]
    }
    curves = plots.curves_figure(histories, result.trials, THREE)
    assert len(curves.axes) == 3
    lines = curves.axes[0].get_lines()[:4]
    assert [line.get_color() for line in lines] == [plots.STRATEGY_COLOURS[s] for s in strategies]
    assert [line.get_label() for line in lines][0].startswith("static (")

    page = html.unescape(report(result.path, out=tmp_path / "report").index.read_text())
    page = re.sub(r"\s+", " ", page)
    assert page.count("coloured by weighting strategy") == 3  # matrix, parallel and curves
    assert "loss weight of" not in page


def test_a_folder_of_the_users_files_is_refused_and_an_earlier_report_replaced(
    synthetic_search, tmp_path: Path, capsys
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>my page</h1>")
    assert main(["report", str(synthetic_search.path), "--out", str(site)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --out {site} holds files and no tune-mtl report, which the report's index.html "
        "and PNGs could replace; pass a new or empty folder."
    ]
    assert [path.name for path in site.iterdir()] == ["index.html"]
    assert (site / "index.html").read_text() == "<h1>my page</h1>"

    not_a_folder = synthetic_search.path / "trials.csv"
    assert main(["report", str(synthetic_search.path), "--out", str(not_a_folder)]) == 2
    assert f"--out {not_a_folder} is a file" in capsys.readouterr().err

    again = tmp_path / "again"
    first = report(synthetic_search.path, out=again)
    first.index.write_text(first.index.read_text().replace("</h1>", " (first)</h1>"))
    (again / "scatter_matrix.png").write_bytes(b"a figure of a three-objective search")
    second = report(synthetic_search.path, out=again)
    assert second.index == first.index and "(first)" not in second.index.read_text()
    # Two objectives draw no scatter matrix: the earlier one is not left behind, unlinked.
    assert sorted(path.name for path in again.iterdir()) == sorted(
        [INDEX_FILE, *(path.name for path in second.figures.values())]
    )
