#!/usr/bin/env python3
"""Benchmark: training throughput and peak memory of LoRA vs full fine-tuning, in one run.

Both sides train the same random test checkpoint (8M- and 150M-shape ESM-2 written by
``plmtransfer.backends.esm.featuriser.write_test_model``) with the regression head of
``plmtransfer.learn.trainable`` on the same batches: real DMS variant sequences from the offline
mirror (IF1_ECOLI, 72 residues) and random targets, AdamW, one optimizer step per batch.
Baseline: full fine-tuning (every weight learns). Ours: LoRA of rank ``--rank`` on the
attention projections (encoder frozen). Each (model, mode) runs in its own process so that
the peak memory is its own: on CPU the peak resident set size (``ru_maxrss``) and its rise
over the process's size before the model was loaded; on CUDA ``max_memory_allocated``. One
untimed warm-up step, then ``--steps`` timed steps. Prints sequences/s of both and the
ratios. A random model's outputs carry no biology: only the timings mean something.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from plmtransfer.backends.esm import TEST_ARCHITECTURES
from plmtransfer.backends.esm.featuriser import write_test_model
from plmtransfer.learn.trainable import TrainSettings, build_predictor, count_trainable, make_optimizer, run_epoch

ASSAY = "IF1_ECOLI"


def create_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="offline data mirror (holds dms/)")
    parser.add_argument("--models", nargs="+", default=["8M", "150M"], choices=list(TEST_ARCHITECTURES),
                        help="test-model shapes")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 3],
                        help="timed optimizer steps, one number per model")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    return parser


def max_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(checkpoint: str, sequences: list[str], mode: str, rank: int, steps: int, batch_size: int,
            device: str, threads: int, queue) -> None:
    """Train ``steps`` + 1 steps in this process; put (sequences/s, peak MiB, rise MiB, learning weights)."""
    import peft  # noqa: F401 (imported by both modes before the baseline size, so LoRA's import is not counted)

    torch.set_num_threads(threads)
    before = max_rss_mib()
    settings = TrainSettings(batch_size=batch_size, num_epochs=1, dropout=0.0, device=device,
                             lora=rank if mode == "lora" else 0,
                             unfreeze_last_k_layers=0 if mode == "lora" else 10_000)
    model, _ = build_predictor(checkpoint, 1, settings)
    optimizer = make_optimizer(model, settings)
    targets = torch.randn(len(sequences))

    def loss_of(outputs, rows):
        return torch.nn.functional.mse_loss(outputs.squeeze(-1), targets[rows].to(outputs.device))

    run_epoch(model, sequences[:batch_size], loss_of, optimizer, settings, 0)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timed = sequences[:batch_size * steps]
    start = time.perf_counter()
    run_epoch(model, timed, loss_of, optimizer, settings, 1)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
        rise = peak
    else:
        peak = max_rss_mib()
        rise = peak - before
    queue.put((len(timed) / seconds, peak, rise, count_trainable(model)))


def run_isolated(*args) -> tuple[float, float, float, int]:
    """:func:`measure` in a fresh process (its own peak memory)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=measure, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv=None) -> int:
    """Run every model shape with full fine-tuning (baseline) and LoRA (ours); print a table."""
    args = create_parser().parse_args(argv)
    with gzip.open(args.mirror / "dms" / f"{ASSAY}.csv.gz", "rt") as handle:
        frame = pd.read_csv(handle)
    order = np.random.default_rng(0).permutation(len(frame))
    sequences = [frame["sequence"].iloc[i] for i in order[:args.batch_size * (max(args.steps) + 1)]]
    memory = "peak RSS (rise over the process before loading)" if args.device == "cpu" else "max_memory_allocated"
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), device {args.device}; {ASSAY} sequences of {len(sequences[0])} residues, "
          f"batch {args.batch_size}; memory: {memory}")
    print("| model | mode | learning weights | steps | seq/s | peak MiB | rise MiB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for model, steps in zip(args.models, args.steps, strict=True):
            checkpoint = str(write_test_model(directory, model))
            results = {}
            for mode in ("full", "lora"):
                results[mode] = run_isolated(checkpoint, sequences, mode, args.rank, steps, args.batch_size,
                                             args.device, args.threads)
                speed, peak, rise, learning = results[mode]
                label = f"lora{args.rank}" if mode == "lora" else "full"
                print(f"| {model} | {label} | {learning:,} | {steps} | {speed:.2f} | {peak:.0f} | {rise:.0f} |")
            (full_speed, full_peak, full_rise, _), (lora_speed, lora_peak, lora_rise, _) = (results["full"],
                                                                                             results["lora"])
            print(f"| {model} | ratio lora/full | | | {lora_speed / full_speed:.2f}x | {lora_peak / full_peak:.2f}x | "
                  f"{lora_rise / full_rise:.2f}x |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
