#!/usr/bin/env python
"""Benchmark of start-up costs: ``--help`` of every script, and a regression job's fixed cost.

1. ``--help``: ours = ``python scripts/<name>.py --help`` (heavy libraries are imported after
   parsing); baseline = the same command with the stage modules the script imported at module
   level before (torch, scikit-learn, SciPy, pandas, matplotlib, statsmodels) imported first,
   i.e. what ``--help`` cost when the script imported them at the top. Both in fresh processes,
   interleaved, ``--repeats`` times; medians and the ratio.
2. A regression job's fixed cost (a sweep runs thousands of jobs): in a fresh process, the
   seconds to start Python and import ``plmtransfer.learn.regress``, to read and join one compressed
   embedding file with its metadata, and to write a result CSV, with no fit. The input is a
   real DMS assay of the mirror with a dense float32 1280-dimensional STAND-IN for pLM mean
   embeddings (seeded Gaussian, not a language model).

Run it under ``flock /tmp/plmtransfer-heavy.lock``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plmtransfer import layout

REPO = Path(__file__).resolve().parents[1]
# The modules each script imported at module level before its heavy imports moved after parsing.
FORMER_IMPORTS = {
    "compress": ["plmtransfer.embed.compress", "scipy.fft", "scipy.linalg"],
    "extract": ["plmtransfer.embed.extract"],
    "make_test_model": ["plmtransfer.backends.esm.featuriser"],
    "plot": ["pandas", "plmtransfer.analysis.figures", "plmtransfer.analysis.stats"],
    "prepare_dms": ["pandas", "plmtransfer.backends.weights", "plmtransfer.data.datasets"],
    "prepare_pisces": ["plmtransfer.data.pisces"],
    "reg_lassoCV": ["plmtransfer.learn.regress", "plmtransfer.learn.splits"],
    "reg_lassoCV_sampling": ["plmtransfer.learn.regress", "plmtransfer.learn.splits"],
    "stats": ["pandas", "plmtransfer.analysis.report", "plmtransfer.analysis.stats"],
}
JOB = """
import sys, time
start = float(sys.argv[1])
from pathlib import Path
import pandas as pd
import plmtransfer.learn.regress as regress
from plmtransfer.learn import features
from plmtransfer.io import write_dataframe_csv
imported = time.time()
options = regress.Options()
metadata, embeddings = regress.load_inputs(sys.argv[2], sys.argv[3], options)
table = features.join(metadata, embeddings, "bench", options.max_missing)
read = time.time()
rows = regress.label_results(pd.DataFrame({"Fold": range(5), "R2_score_test": 0.0}),
                             "mean", "bench", "stand-in")
write_dataframe_csv(rows, Path(sys.argv[4]))
written = time.time()
print({"import": imported - start, "read_join": read - imported, "write": written - read,
       "total": written - start, "rows": len(table.metadata), "columns": table.features.shape[1]})
"""


def environment() -> dict:
    """This repository first on the import path of the child processes."""
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def timed(command: list[str]) -> float:
    """Wall seconds of one fresh process (its output discarded; it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environment(), cwd=REPO)
    return time.perf_counter() - start


def help_table(repeats: int) -> str:
    """Median ``--help`` seconds per script, baseline (former imports) and ours, and the ratio."""
    rows = ["| script | baseline_s (former imports) | ours_s | speedup |", "|---|---|---|---|"]
    for name, modules in FORMER_IMPORTS.items():
        script = str(REPO / "scripts" / f"{name}.py")
        preload = "import runpy, sys; " + "; ".join(f"import {module}" for module in modules) \
            + f"; sys.argv = [{script!r}, '--help']; runpy.run_path({script!r}, run_name='__main__')"
        baseline, ours = [], []
        for _ in range(repeats):
            baseline.append(timed([sys.executable, "-c", preload]))
            ours.append(timed([sys.executable, script, "--help"]))
        base, mine = statistics.median(baseline), statistics.median(ours)
        rows.append(f"| `{name}.py` | {base:.2f} | {mine:.2f} | {base / mine:.1f}x |")
    return "\n".join(rows)


def regression_job_table(mirror: Path, assay: str, repeats: int) -> str:
    """Median seconds of a regression job's phases without the fit."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(mirror / "dms" / f"{assay}.csv.gz", dtype={"ID": str})
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        embeddings = {str(label): rng.standard_normal(1280).astype(np.float32)
                      for label in frame["ID"].drop_duplicates()}
        embeddings_path = layout.compressed_file(folder, 30, "mean")
        with open(embeddings_path, "wb") as handle:
            pickle.dump(embeddings, handle)
        frame.drop_duplicates("ID").to_csv(folder / "metadata.csv")
        runs = []
        for _ in range(repeats):
            completed = subprocess.run(
                [sys.executable, "-c", JOB, repr(time.time()), str(embeddings_path),
                 str(folder / "metadata.csv"), str(folder / "out.csv")],
                check=True, capture_output=True, text=True, env=environment(), cwd=REPO)
            runs.append(json.loads(completed.stdout.strip().replace("'", '"')))
    phases = ("import", "read_join", "write", "total")
    medians = {phase: statistics.median(run[phase] for run in runs) for phase in phases}
    header = "| assay | rows | columns | " + " | ".join(f"{phase}_s" for phase in phases) + " |"
    return "\n".join([header, "|---" * (3 + len(phases)) + "|",
                      f"| {assay} | {runs[0]['rows']} | {runs[0]['columns']} | "
                      + " | ".join(f"{medians[phase]:.2f}" for phase in phases) + " |"])


def main(argv=None) -> int:
    """Run both measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data",
                        help="offline data mirror (dms/<assay>.csv.gz)")
    parser.add_argument("--assay", default="BLAT_ECOLX_Ostermeier2014", help="DMS assay of the mirror")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per measurement")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{value:.1f}' for value in os.getloadavg())}, repeats {args.repeats}\n")
    print(help_table(args.repeats) + "\n")
    print(regression_job_table(args.mirror, args.assay, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
