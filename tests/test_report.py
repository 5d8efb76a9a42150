"""`tune-mtl report` on a real finished search: the PNGs, the page's links, and the page in Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from tests.conftest import run_cli
from tune_mtl.pareto import hypervolume_2d
from tune_mtl.report import hypervolume_trajectory, report
from tune_mtl.trial_files import epoch_histories

pytestmark = pytest.mark.e2e

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


def test_every_png_is_a_real_non_blank_image(written: Path) -> None:
    assert {p.name for p in written.glob("*.png")} == FIGURES
    for path in written.glob("*.png"):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(path)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200
        assert pixels[..., :3].var() > 0, path.name


def test_the_page_links_only_files_that_exist(written: Path) -> None:
    page = (written / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert set(links) == FIGURES
    for link in links:
        assert (written / link).is_file()
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def test_the_page_explains_the_missing_importance_and_tabulates_the_front(
    synthetic_search, written: Path
) -> None:
    page = html.unescape((written / "index.html").read_text())
    completed = (pd.read_csv(synthetic_search.path / "trials.csv")["status"] == "completed").sum()
    assert f"needs at least 10 completed trials, but this search has {completed} of 4" in page
    pareto = pd.read_csv(synthetic_search.path / "pareto.csv", dtype={"trial_id": str})
    for trial_id in pareto["trial_id"]:
        assert f"<td>{trial_id}</td>" in page
    assert '<tr class="knee"><td>*</td>' in page


def test_embedded_images_need_no_files(synthetic_search, tmp_path: Path) -> None:
    written = report(synthetic_search.path, out=tmp_path / "r", embed_images=True)
    page = written.index.read_text()
    assert page.count('src="data:image/png;base64,') == len(written.figures) == 3
    assert not re.findall(r'src="(?!data:)', page)


def test_hypervolume_trajectory_ends_at_the_search_s_value(synthetic_search) -> None:
    experiment = synthetic_search.path
    trials = pd.read_csv(experiment / "trials.csv", dtype={"trial_id": str})
    summary = json.loads((experiment / "summary.json").read_text())
    histories = epoch_histories(experiment, trials["trial_id"])
    trajectory = hypervolume_trajectory(trials, histories, (0.25, 0.5))
    assert trajectory["finished"].tolist() == list(range(1, len(trials) + 1))
    assert sorted(trajectory["trial_id"]) == sorted(trials["trial_id"])
    assert trajectory["hypervolume"].is_monotonic_increasing
    assert trajectory["hypervolume"].iloc[-1] == pytest.approx(summary["hypervolume_val"])
    assert trajectory["front_size"].iloc[-1] == summary["front_size"]
    completed = trials[trials["status"] == "completed"]
    points = completed[["val_task1_accuracy", "val_task2_accuracy"]].to_numpy()
    assert summary["hypervolume_val"] == pytest.approx(hypervolume_2d(points, (0.25, 0.5)))


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
