#!/usr/bin/env python
"""End-to-end benchmark of a regression job: the study's script vs ``reg_lassoCV.py --solver compiled``.

Each measurement is a whole process, from its start to its CSV written, as a sweep runs it:

- baseline: bench/study_lassocv.py, the study's loop (pandas, ``LassoCV(n_jobs=-1)`` per outer fold);
- ours: ``python -m plmtransfer.cli.reg_lassoCV --solver compiled -j THREADS`` (the whole alpha grid,
  LassoCV's choice of alpha, outer folds in threads).

Both run on the same files, each process held to ``THREADS`` CPUs and as many BLAS and OpenMP threads
(``--threads``, rows per count), ``--repeats`` rounds interleaved (baseline, ours, baseline, ...).
Reported per case and thread count: median wall seconds and their range, the median of the
per-round speed-ups and their range, each process's peak resident memory (``ru_maxrss`` of the
child) beside the size of the Gram matrices the compiled search keeps, and the folds where the two
chose the same alpha (test R² difference on those folds).

Cases: one-hot ``flat`` of mirror DMS assays (``--assays``, all variants), and any compressed
embedding file with its metadata (``--embeddings FILE.pkl:METADATA.csv``, e.g. a sweep's UniRep
1900 ``mean``); ``--rows N`` measures a fixed sample of N rows of each case. Run it on a quiet
machine; ``docs/benchmarks.md`` records the results.

    python bench/regress_process.py --assays BLAT_ECOLX_Ostermeier2014 --threads 1 2
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plmtransfer.cli.common import HelpFormatter, run_cli  # noqa: E402
from plmtransfer.data import datasets  # noqa: E402
from plmtransfer.data.sequences import onehot_encode  # noqa: E402
from plmtransfer.io import load_compressed  # noqa: E402
from plmtransfer.learn.lasso import walks_on_grams  # noqa: E402

BASELINE = REPO / "bench" / "study_lassocv.py"
INNER_FOLDS = 5


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--mirror", default=str(REPO.parent / "shared" / "data"), help="offline data mirror root")
    parser.add_argument("--assays", nargs="*", default=["BLAT_ECOLX_Ostermeier2014"],
                        help="mirror DMS assays whose one-hot flat features are cases (all variants)")
    parser.add_argument("--embeddings", nargs="*", default=[], metavar="FILE.pkl:METADATA.csv",
                        help="compressed embeddings and their metadata (ID, target) as further cases")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, one row each")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case and thread count (medians)")
    parser.add_argument("--rows", type=int, default=None,
                        help="measure a fixed sample of this many rows of each case (seed 0) instead of all rows")
    return parser


def onehot_case(mirror: Path, assay: str, folder: Path) -> tuple[str, Path, Path]:
    """Write one assay's one-hot flat features (pickled ``{ID: vector}``) and metadata into ``folder``."""
    report = datasets.prepare_assay(assay, folder, mirror / "dms", True, "mean")
    if report.status != "prepared":
        raise RuntimeError(f"{assay}: {report.message or report.status}")
    metadata = pd.read_csv(datasets.metadata_path(folder, assay), dtype={"ID": str})
    vectors = {identifier: onehot_encode(sequence).ravel()
               for identifier, sequence in zip(metadata["ID"], metadata["sequence"], strict=True)}
    embeddings = folder / f"{assay}_flat.pkl"
    with embeddings.open("wb") as handle:
        pickle.dump(vectors, handle)
    metadata_file = folder / f"{assay}_targets.csv"
    metadata[["ID", "target"]].to_csv(metadata_file, index=False)
    return f"{assay} one-hot flat", embeddings, metadata_file


def sampled_case(name: str, embeddings: Path, metadata: Path, rows: int, folder: Path) -> tuple[str, Path, Path]:
    """``rows`` rows of a case drawn with seed 0 (metadata order kept), written into ``folder``."""
    table = pd.read_csv(metadata, dtype={"ID": str})
    if rows >= len(table):
        return name, embeddings, metadata
    table = table.iloc[np.sort(np.random.default_rng(0).choice(len(table), rows, replace=False))]
    vectors = load_compressed(embeddings)
    stem = f"{len(list(folder.iterdir()))}_{rows}"
    sampled_embeddings, sampled_metadata = folder / f"{stem}.pkl", folder / f"{stem}.csv"
    with sampled_embeddings.open("wb") as handle:
        pickle.dump({identifier: vectors[identifier] for identifier in table["ID"]}, handle)
    table.to_csv(sampled_metadata, index=False)
    return f"{name}, {rows} rows", sampled_embeddings, sampled_metadata


def run_process(command: list[str], threads: int) -> tuple[float, float]:
    """Run ``command`` on ``threads`` CPUs with as many BLAS/OpenMP threads; its wall seconds and peak
    resident MiB. Its error output goes to a file, not a pipe: the study's script writes a
    ConvergenceWarning per unconverged fit, which on full-size data fills a pipe nobody reads.

    The CPU affinity matters beside the thread variables: the study's ``LassoCV(n_jobs=-1)`` runs its
    inner folds in as many joblib threads as the process may use CPUs, whatever ``OMP_NUM_THREADS`` says.
    """
    environment = {**os.environ, **{name: str(threads) for name in
                                    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=errors,
                                   preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise RuntimeError(f"failed: {' '.join(command)}\n{errors.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def gram_mib(embeddings: Path) -> float:
    """MiB of Gram matrices one outer fold's compiled search holds at its peak, in the features' dtype: the
    five test parts' Grams and their sum while the training parts' Grams are assembled over them
    (``lasso.inner_training_grams``); 0 when the search walks on the columns (``lasso.walks_on_grams``)."""
    vectors = load_compressed(embeddings)
    first = np.asarray(next(iter(vectors.values())))
    n_rows, n_columns, itemsize = len(vectors), first.size, first.dtype.itemsize
    inner_rows = (n_rows * 4 // 5) * 4 // 5
    if not walks_on_grams(inner_rows, n_columns, INNER_FOLDS, itemsize):
        return 0.0
    return (INNER_FOLDS + 1) * n_columns ** 2 * itemsize / 2 ** 20


def measure(name: str, embeddings: Path, metadata: Path, threads: int, repeats: int, folder: Path) -> dict:
    """Interleaved rounds of both processes on one case; the row of the results table."""
    outputs = {"baseline": folder / "baseline.csv", "ours": folder / "ours.csv"}
    commands = {"baseline": [sys.executable, str(BASELINE), str(embeddings), str(metadata), str(outputs["baseline"])],
                "ours": [sys.executable, "-m", "plmtransfer.cli.reg_lassoCV", "-i", str(embeddings), "-m",
                         str(metadata), "-o", str(outputs["ours"]), "--solver", "compiled", "-j", str(threads),
                         "--quiet"]}
    runs = {variant: [] for variant in commands}
    for _ in range(repeats):
        for variant, command in commands.items():
            runs[variant].append(run_process(command, threads))
    baseline, ours = pd.read_csv(outputs["baseline"]), pd.read_csv(outputs["ours"])
    same = np.isclose(baseline["alpha"], ours["alpha"], rtol=1e-9, atol=0)
    ratios = [base[0] / own[0] for base, own in zip(runs["baseline"], runs["ours"], strict=True)]
    walls = {variant: [run[0] for run in done] for variant, done in runs.items()}
    same_r2 = np.abs(baseline["R2_score_test"] - ours["R2_score_test"])[same]
    return {"case": name, "threads": threads,
            "baseline s": f"{np.median(walls['baseline']):.1f} ({min(walls['baseline']):.1f}-"
                          f"{max(walls['baseline']):.1f})",
            "ours s": f"{np.median(walls['ours']):.2f} ({min(walls['ours']):.2f}-{max(walls['ours']):.2f})",
            "speed-up": f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
            "peak MiB baseline / ours": f"{max(run[1] for run in runs['baseline']):.0f} / "
                                        f"{max(run[1] for run in runs['ours']):.0f}",
            "Gram MiB": f"{gram_mib(embeddings):.0f}",
            "same alpha": f"{int(same.sum())}/{len(same)}",
            "test R2 |diff| (same alpha)": f"{same_r2.max():.1e}" if same.any() else "-"}


def markdown(rows: list[dict]) -> str:
    """The results as a markdown table."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[column]) for column in header) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Prepare the cases, measure each at each thread count, print the table."""
    args = create_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        cases = [onehot_case(Path(args.mirror), assay, folder) for assay in args.assays]
        for pair in args.embeddings:
            embeddings, metadata = pair.split(":")
            cases.append((Path(embeddings).parent.name + "/" + Path(embeddings).name, Path(embeddings),
                          Path(metadata)))
        if args.rows is not None:
            cases = [sampled_case(*case, args.rows, folder) for case in cases]
        rows = []
        for name, embeddings, metadata in cases:
            for threads in args.threads:
                rows.append(measure(name, embeddings, metadata, threads, args.repeats, folder))
                print(rows[-1], flush=True)
    print(f"\n{sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.repeats} rounds\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_cli(main)
