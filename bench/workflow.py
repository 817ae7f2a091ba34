#!/usr/bin/env python
"""The drivers' scheduler: Snakemake (today's run_all_DMS.sh) against the bash job pool it replaced.

Both run the same stage scripts (this checkout's scripts/*.py) on the same demo-sized sweep: the
demo's assays (from the offline mirror, cut to --variants rows each), the tiny random test model
with the demo's ESM methods (mean, bos, maxPool) and one-hot (mean, maxPool, flat), through
extraction, compression, regression, learning curves and stats, with --jobs 2. The old driver
is taken from git (``git show 3a0e266:<file>``: run_*_DMS.sh, scripts/driver_lib.sh,
scripts/extraction_driver.sh, scripts/run_all.sh) into a temporary directory beside a copy of
the stage scripts. Each round runs both from empty roots (order alternating), then once more on
the finished roots (every job up to date: the scheduler's own cost). Prints wall times, the
ratio new/old and whether both wrote the same per-fold metrics.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from plmtransfer import layout
from plmtransfer.backends.esm.featuriser import write_test_model
from plmtransfer.cli.common import HelpFormatter, run_cli
from plmtransfer.stages import REGRESS_STEP

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "3a0e266"
OLD_FILES = ["run_extraction_DMS.sh", "run_compression_DMS.sh", "run_lassoCV_DMS.sh", "run_lassoCV_sampling_DMS.sh",
             "run_stats_DMS.sh", "run_all_DMS.sh", "scripts/driver_lib.sh", "scripts/extraction_driver.sh",
             "scripts/run_all.sh"]
DEMO_ASSAYS = ["IF1_ECOLI", "SUMO1_HUMAN_Roth2017", "RL401_YEAST_Bolon2014"]
METRICS = ["Dataset", "Embedding_model", "Compression_method", "R2_score_test", "rho_score_test"]


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--mirror", default=os.environ.get("PLMTRANSFER_MIRROR", str(REPO.parent / "shared" / "data")),
                        help="offline data mirror root [PLMTRANSFER_MIRROR]")
    parser.add_argument("--assays", nargs="+", default=DEMO_ASSAYS, help="DMS assays of the sweep")
    parser.add_argument("--variants", type=int, default=300, help="variants kept per assay (first rows)")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of both drivers")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (each runs old and new, order alternating)")
    return parser


def old_driver(directory: Path) -> Path:
    """Write the old drivers (from git) and a copy of the stage scripts into ``directory``."""
    for name in OLD_FILES:
        text = subprocess.run(["git", "show", f"{OLD_COMMIT}:{name}"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    for script in (REPO / "scripts").glob("*.py"):
        shutil.copy(script, directory / "scripts" / script.name)
    return directory


def prepare_data(mirror: Path, assays: list[str], variants: int, data: Path) -> None:
    """The assays from the mirror, cut to their first ``variants`` rows (metadata and FASTA agree)."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_dms.py"), "--datasets", *assays, "--mirror",
                    str(mirror / "dms"), "--out-dir", str(data), "--offline", "--quiet"], check=True)
    for assay in assays:
        metadata = layout.metadata_path(layout.DMS, assay, data)
        frame = pd.read_csv(metadata).head(variants)
        frame.to_csv(metadata, index=False)
        fasta = "".join(f">{row.ID}\n{row.sequence}\n" for row in frame.itertuples())
        layout.fasta_path(layout.DMS, assay, data).write_text(fasta)


def timed_sweep(driver_dir: Path, root: Path, assays: list[str], models: str, jobs: int) -> float:
    """Wall time of one run_all_DMS.sh sweep (exit status 0 required)."""
    start = time.perf_counter()
    completed = subprocess.run(["bash", str(driver_dir / "run_all_DMS.sh"), "--root", str(root), "--datasets",
                                ",".join(assays), "--models", models, "--jobs", str(jobs), "--quiet",
                                "--python", sys.executable], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{driver_dir / 'run_all_DMS.sh'} failed:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def metrics(root: Path) -> pd.DataFrame:
    """Every per-fold regression result under a root, sorted, metric columns only."""
    results = layout.results_dir(REGRESS_STEP, layout.STUDY_CV, layout.DMS, root)
    frames = [pd.read_csv(path) for path in sorted(results.glob("*/*.csv"))]
    return pd.concat(frames)[METRICS].sort_values(METRICS[:3], kind="stable").reset_index(drop=True)


def main(argv=None) -> int:
    """Run the rounds and print the table."""
    args = create_parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as scratch:
        scratch = Path(scratch)
        old = old_driver(scratch / "old")
        data = scratch / layout.DATA_DIR
        prepare_data(Path(args.mirror), args.assays, args.variants, data)
        model = write_test_model(scratch / "models", "tiny", seed=0)
        models = f"{model}:2:mean,bos,maxPool onehot:0:mean,maxPool,flat"
        rows = []
        for round_index in range(args.rounds):
            order = [("old", old), ("snakemake", REPO)]
            if round_index % 2:
                order.reverse()
            roots = {}
            for name, driver in order:
                root = scratch / f"{name}_{round_index}"
                shutil.copytree(data, root / layout.DATA_DIR)
                roots[name] = root
                sweep = timed_sweep(driver, root, args.assays, models, args.jobs)
                noop = timed_sweep(driver, root, args.assays, models, args.jobs)
                rows.append((round_index, name, sweep, noop))
                print(f"round {round_index} {name}: sweep {sweep:.1f} s, up-to-date re-run {noop:.1f} s", flush=True)
            same = metrics(roots["old"]).equals(metrics(roots["snakemake"]))
            print(f"round {round_index}: same per-fold metrics: {same}")
    table = pd.DataFrame(rows, columns=["round", "driver", "sweep_s", "noop_s"])
    medians = table.groupby("driver")[["sweep_s", "noop_s"]].median()
    print(medians.round(2).to_string())
    ratio = medians.loc["snakemake", "sweep_s"] / medians.loc["old", "sweep_s"]
    print(f"sweep wall time snakemake / old = {ratio:.3f} (target <= 1.10); up-to-date re-run "
          f"{medians.loc['snakemake', 'noop_s']:.2f} s vs {medians.loc['old', 'noop_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
