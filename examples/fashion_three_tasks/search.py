"""The search of space.yaml from Python, with our functions themselves instead of import strings.

Run from any folder:  python search.py [--trials 8]

What `tune-mtl search --space space.yaml --trials 8` does, written as a script (or a notebook's
cells): search, print the front, write the report, export the knee model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models import build, load

import tune_mtl

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, help="default: space.yaml's")
    parser.add_argument("--examples-per-epoch", type=int, help="default: space.yaml's")
    parser.add_argument("--results", default="results", help="folder for the search's folder")
    args = parser.parse_args()

    # The space file gives the loss weights, learning rate and shared width to search, and the
    # epochs; its `data:` and `model:` lines are overridden by the functions passed here.
    result = tune_mtl.search(
        data=load,
        model=build,
        space=HERE / "space.yaml",
        trials=args.trials,
        max_epochs=args.max_epochs,
        examples_per_epoch=args.examples_per_epoch,
        results=args.results,
    )

    # result.trials and result.pareto are pandas DataFrames: trials.csv and pareto.csv.
    print(tune_mtl.format_front(result))
    knee = result.knee
    print(
        f"Knee: trial {knee['trial_id']}, loss weights item {knee['weight_item']:.2f}, "
        f"group {knee['weight_group']:.2f}, size {knee['weight_size']:.2f}; test item accuracy "
        f"{knee['test_item_accuracy']:.4f}, group accuracy {knee['test_group_accuracy']:.4f}, "
        f"size MAE {knee['test_size_mae']:.4f}"
    )

    page = tune_mtl.report(result.path)
    print(f"Report: {page.index}")
    exported = tune_mtl.export_model(result.path, knee=True, out=result.path / "knee.keras")
    print(f"Knee model: {exported.model} (with {exported.sidecar.name})")


if __name__ == "__main__":
    main()
