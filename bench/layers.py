#!/usr/bin/env python3
"""Benchmark: a layer sweep's extraction, one forward pass pooling every layer vs one pass per layer.

One run, same sequences (real DMS variants of the offline mirror: evenly spaced rows of one
assay), same weights, same pooling. Two timed sides, each end to end through the extraction
stage (``run_extraction``: model load, FASTA read, forward, pooling, file writes):

  baseline  one ``--repr_layers <L> --pool <methods>`` extraction per layer L = 0..num_layers,
            as a user without ``all`` would run a layer sweep (each pass stops at its layer);
  ours      one ``--repr_layers all --pool <methods>`` extraction: every layer pooled inline
            from a single forward pass.

Both sides run once untimed on a few sequences first (torch warm-up, weights in the page cache),
then ``--repeats`` times, interleaved (ours, then the baseline's passes), and each side's best
time is kept: on a shared machine other processes only ever add time. The pooled vectors of the
two sides are compared (max |difference| over layers, methods and sequences). Prints the seconds
of each side (the baseline's per layer too) and the ratio baseline / ours.

    python bench/layers.py                      # UniRep 256 (4 layers), 200 IF1_ECOLI variants, mean
    python bench/layers.py --model esm2_8M --count 500 --pool mean maxPool
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from plmtransfer import layout
from plmtransfer.options import ALL_LAYERS

WARMUP_SEQUENCES = 4


def create_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="offline data mirror (holds dms/)")
    parser.add_argument("--assay", default="IF1_ECOLI", help="mirror DMS assay (default: IF1_ECOLI)")
    parser.add_argument("--count", type=int, default=200, help="variants, evenly spaced rows (default: 200)")
    parser.add_argument("--model", default="unirep_256", help="model name (default: unirep_256, 4 layers)")
    parser.add_argument("--pool", nargs="+", default=["mean"], help="pooling methods (default: mean)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, best kept (default: 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of both sides (default: 1: on a busy machine a lock-step thread "
                        "team waits for its slowest, descheduled thread, and a pass's time jumps tenfold)")
    return parser


def variants(mirror: Path, assay: str, count: int) -> tuple[list[str], list[str]]:
    """``count`` evenly spaced variants (labels, sequences) of a mirror DMS assay."""
    import pandas as pd

    frame = pd.read_csv(mirror / "dms" / f"{assay}.csv.gz")
    if count < len(frame):
        frame = frame.iloc[np.linspace(0, len(frame) - 1, count).astype(int)]
    return list(frame["ID"].astype(str)), list(frame["sequence"])


def extract(model: str, fasta: Path, out: Path, layers: tuple, pool: list[str]) -> float:
    """Seconds of one extraction-stage call pooling ``layers``."""
    from plmtransfer.embed.extract import ExtractOptions, run_extraction

    started = time.perf_counter()
    run_extraction(model, fasta, out, ExtractOptions(repr_layers=layers, pool=tuple(pool), quiet=True,
                                                     overwrite=True))
    return time.perf_counter() - started


def write_fasta(path: Path, labels: list[str], sequences: list[str]) -> Path:
    """A FASTA of the labelled sequences."""
    path.write_text("".join(f">{label}\n{sequence}\n" for label, sequence in zip(labels, sequences, strict=True)))
    return path


def main(argv=None) -> int:
    """Time both sides on the same sequences; print the seconds, the ratio and the largest difference."""
    import torch

    from plmtransfer.io import load_compressed

    args = create_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    labels, sequences = variants(args.mirror, args.assay, args.count)
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        warm = write_fasta(work / "warm.fasta", labels[:WARMUP_SEQUENCES], sequences[:WARMUP_SEQUENCES])
        extract(args.model, warm, work / "warm", (ALL_LAYERS,), args.pool)
        layers = sorted(int(layout.compressed_layer(path)) for path in (work / "warm").glob(f"*_{args.pool[0]}.pkl"))
        fasta = write_fasta(work / "in.fasta", labels, sequences)
        runs = [(extract(args.model, fasta, work / "all", (ALL_LAYERS,), args.pool),
                 [extract(args.model, fasta, work / f"L{layer}", (layer,), args.pool) for layer in layers])
                for _ in range(args.repeats)]
        ours = min(seconds for seconds, _ in runs)
        passes = [min(times[index] for _, times in runs) for index in range(len(layers))]
        baseline = sum(passes)
        difference = max(float(np.max(np.abs(np.stack(list(load_compressed(layout.compressed_file(
            work / "all", layer, method)).values())) - np.stack(list(load_compressed(layout.compressed_file(
                work / f"L{layer}", layer, method)).values())))))
            for layer in layers for method in args.pool)
    residues = sum(map(len, sequences))
    print(f"{args.model}, layers {layers[0]}..{layers[-1]} ({len(layers)}), --pool {' '.join(args.pool)}, "
          f"{len(sequences)} variants of {args.assay} ({residues} residues)")
    print(f"best of {args.repeats} runs per side, {args.threads} torch thread(s)")
    print(f"baseline: one pass per layer      {baseline:8.2f} s  ("
          + ", ".join(f"layer {layer}: {seconds:.2f} s" for layer, seconds in zip(layers, passes, strict=True)) + ")")
    print(f"ours:     one pass, every layer   {ours:8.2f} s")
    print(f"ratio baseline / ours: {baseline / ours:.2f}x; max |difference| of the pooled vectors: {difference:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
