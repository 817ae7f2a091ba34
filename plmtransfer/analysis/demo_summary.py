"""The demo's closing summary: test R² per assay and model, one honest reading line, the files to open.

``python -m plmtransfer.analysis.demo_summary ROOT "ASSAY ..." [UNTRAINED]`` prints, for this run's
assays only (results of other runs under ``ROOT`` are left out), the mean test R² over the outer
folds per assay and ``model:method``; then a reading line comparing the best pretrained embedding
with the study's one-hot baseline (:func:`plmtransfer.analysis.stats.baseline_label`, ``onehot:flat``,
the baseline every figure and the report name ``one-hot flat (baseline)``);
then the figures and the report. Generated assays (:mod:`plmtransfer.data.generated`) put a
banner above the table and into the reading line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from plmtransfer import layout
from plmtransfer.analysis.stats import baseline_label
from plmtransfer.data.generated import GENERATED_BANNER, is_generated
from plmtransfer.registry import BASELINE
from plmtransfer.stages import REGRESS_STEP


def reading(frame: pd.DataFrame, baseline: str, generated: bool = False) -> str | None:
    """One sentence: does the best pretrained ``model:method`` beat ``baseline``?

    ``frame`` holds per-fold rows with ``Dataset``, ``Fold``, ``model`` and ``R2_score_test``.
    The comparison is paired by outer fold: "indistinguishable" when both mean scores are at or
    below zero (neither predicts) or when the mean paired difference is within one standard
    deviation of the paired differences (the fold-to-fold spread); otherwise "beats" or "is no
    better than". None when there is no baseline or no pretrained model.
    """
    means = frame.groupby(["model", "Dataset"])["R2_score_test"].mean().groupby("model").mean()
    pretrained = means[[not name.startswith(f"{BASELINE}:") and "(UNTRAINED)" not in name for name in means.index]]
    if baseline not in means or pretrained.empty:
        return None
    best = pretrained.idxmax()
    folds = frame.pivot_table(index=["Dataset", "Fold"], columns="model", values="R2_score_test")
    paired = (folds[best] - folds[baseline]).dropna()
    difference, spread = paired.mean(), paired.std()
    named = f"the one-hot baseline {baseline} ({means[baseline]:.3f})"
    if pretrained[best] <= 0 and means[baseline] <= 0:
        verdict = f"and {named} both score at or below zero: neither predicts, they are indistinguishable"
    elif abs(difference) <= spread:
        verdict = (f"is indistinguishable from {named}: the difference ({difference:+.3f}) is within the "
                   f"fold-to-fold spread ({spread:.3f})")
    else:
        verdict = f"beats {named}" if difference > 0 else f"is no better than {named}"
    tag = f" ({GENERATED_BANNER})" if generated else ""
    return (f"reading{tag}: over {frame['Dataset'].nunique()} assays the best pretrained embedding, {best} "
            f"(mean test R² {pretrained[best]:.3f}), {verdict}.")


def run_results(root: Path, datasets: list[str], untrained: str = "") -> pd.DataFrame:
    """This run's per-fold regression rows under ``root``, with a ``model`` column ``<model>:<method>``."""
    files = sorted(layout.results_dir(REGRESS_STEP, layout.STUDY_CV, layout.DMS, root).glob("*/*.csv"))
    if not files:
        return pd.DataFrame()
    frame = pd.concat([pd.read_csv(path).assign(_model=path.parent.name) for path in files])
    frame = frame[frame["Dataset"].isin(datasets)]
    model = frame["_model"].where(frame["_model"] != untrained, f"{untrained} (UNTRAINED)")
    return frame.assign(model=model + ":" + frame["Compression_method"])


def main(argv: list[str] | None = None) -> int:
    """Print the summary of a demo run (arguments: root, space-separated assays, untrained model name)."""
    argv = sys.argv[1:] if argv is None else argv
    root, datasets, untrained = Path(argv[0]), argv[1].split(), argv[2] if len(argv) > 2 else ""
    frame = run_results(root, datasets, untrained)
    if frame.empty:
        print(f"no regression results: see the logs under {root / 'logs'}", file=sys.stderr)
        return 1
    generated = any(is_generated(name) for name in datasets)
    if generated:
        print(f"*** {GENERATED_BANNER} ***")
    table = frame.pivot_table(index="Dataset", columns="model", values="R2_score_test", aggfunc="mean")
    print(table.round(3).to_string())
    line = reading(frame, baseline_label(), generated)
    if line:
        print(f"\n{line}")
    if untrained:
        print(f"\n{untrained}: UNTRAINED test model with random weights (no real ESM-2 weights were "
              "available offline): its columns show the pipeline runs, they are NOT results.")
    figures = sorted(str(path) for path in (root / "figures").rglob("*.png"))
    print("\nfigures:" if figures else "\nno figures were written (see the stats log)")
    for path in figures:
        print("  " + path)
    page = layout.stats_dir(layout.DMS, root=root) / "report.html"
    print(f"\nreport (open in a browser): {page}" if page.is_file() else
          "\nno report.html was written (see the stats log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
