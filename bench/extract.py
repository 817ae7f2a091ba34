#!/usr/bin/env python3
"""Benchmark: plmtransfer's extraction vs the model's own library loop, in one run.

Both sides use the same random test checkpoint (8M- and 150M-shape ESM-2 written by
``plmtransfer.backends.esm.featuriser.write_test_model``) and the same FASTA (real DMS variants from the
offline mirror: IF1_ECOLI and SUMO1_HUMAN_Roth2017). Two backends (``--backends``):

  esm: ours on the fair-esm checkpoint vs fair-esm's scripts/extract.py loop with the fair-esm
       API: ``FastaBatchedDataset`` token batching, a full ``model(...)`` forward (all layers,
       logits), one ``torch.save`` per sequence.
  hf:  ours on the same weights converted to the Hugging Face layout
       (``plmtransfer.backends.hf.featuriser.convert_esm2_checkpoint``) vs transformers' own loop on that
       directory: ``EsmTokenizer`` + ``EsmModel`` with SDPA attention, the same batches and the
       same per-sequence files.

Times are end to end (model loading, FASTA reading, forward, writing), after one untimed
warm-up run of each side; with ``--repeats N`` the two sides alternate N times and the best
time of each is kept (on a shared machine, load spikes then hit both sides alike). Cases:

  a: --include mean bos          (both)
  b: --include per_tok           (both)
  c: ours --pool mean bos maxPool vs baseline --include mean bos per_tok

Prints tokens/s of both, the ratio, and the fraction of the measured fp32 matmul peak.
A random model's embeddings carry no biology: only the timings mean something.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from transformers.utils import logging as hf_logging

from plmtransfer.backends.esm import TEST_ARCHITECTURES
from plmtransfer.backends.esm.featuriser import load_model, write_test_model
from plmtransfer.backends.hf.featuriser import convert_esm2_checkpoint
from plmtransfer.embed.extract import ExtractOptions, run_extraction

ASSAYS = ("IF1_ECOLI", "SUMO1_HUMAN_Roth2017")
CASES = {
    "a": (("mean", "bos"), (), ("mean", "bos")),
    "b": (("per_tok",), (), ("per_tok",)),
    "c": ((), ("mean", "bos", "maxPool"), ("mean", "bos", "per_tok")),
}


def create_parser() -> argparse.ArgumentParser:
    """Command-line options of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=Path(__file__).resolve().parents[2]
                        / "shared" / "data", help="offline data mirror (holds dms/)")
    parser.add_argument("--models", nargs="+", default=["8M", "150M"],
                        choices=list(TEST_ARCHITECTURES), help="test-model shapes")
    parser.add_argument("--per-assay", nargs="+", type=int, default=[200, 24],
                        help="variants taken from each assay, one number per model (evenly "
                             "spaced rows; 0 = all)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--backends", nargs="+", default=list(BASELINES), choices=list(BASELINES),
                        help="esm: vs fair-esm's loop; hf: vs transformers' EsmModel loop")
    parser.add_argument("--toks_per_batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs of each side per case, alternating; the best of each is kept")
    parser.add_argument("--dtype", default="float32", help="our dtype on a GPU (baseline: fp32)")
    parser.add_argument("--nogpu", action="store_true", help="benchmark on CPU even with a GPU")
    return parser


def build_fasta(mirror: Path, per_assay: int, path: Path) -> tuple[int, int]:
    """Write DMS variants of the benchmark assays as FASTA; return (sequences, residues)."""
    lines, residues, count = [], 0, 0
    for assay in ASSAYS:
        source = mirror / "dms" / f"{assay}.csv.gz"
        if not source.is_file():
            sys.exit(f"{source}: not found (pass --mirror)")
        with gzip.open(source, "rt") as handle:
            frame = pd.read_csv(handle).drop_duplicates("ID")
        if per_assay:
            step = max(1, len(frame) // per_assay)
            frame = frame.iloc[::step].head(per_assay)
        for identifier, sequence in zip(frame["ID"], frame["sequence"], strict=True):
            lines.append(f">{identifier}\n{sequence}\n")
            residues += len(sequence)
            count += 1
    path.write_text("".join(lines))
    return count, residues


def run_baseline(checkpoint: Path, fasta: Path, output_dir: Path, include, device,
                 toks_per_batch: int, truncation_seq_length: int = 1022) -> None:
    """fair-esm's scripts/extract.py ``run()`` loop (repr_layers -1), with the fair-esm API.

    The model is built by ``plmtransfer.backends.esm.featuriser.load_model`` because fair-esm 2.0.0's own
    loader fails on torch >= 2.6; the model object is fair-esm's ESM2 all the same.
    """
    from esm import FastaBatchedDataset

    loaded = load_model(str(checkpoint))
    model, alphabet = loaded.model.to(device), loaded.alphabet
    dataset = FastaBatchedDataset.from_file(fasta)
    batches = dataset.get_batch_indices(toks_per_batch, extra_toks_per_seq=1)
    data_loader = torch.utils.data.DataLoader(
        dataset, collate_fn=alphabet.get_batch_converter(truncation_seq_length),
        batch_sampler=batches)
    output_dir.mkdir(parents=True, exist_ok=True)
    repr_layers = [model.num_layers]
    with torch.no_grad():
        for labels, strs, toks in data_loader:
            toks = toks.to(device, non_blocking=True)
            out = model(toks, repr_layers=repr_layers, return_contacts=False)
            _ = out["logits"].to(device="cpu")
            representations = {layer: t.to(device="cpu") for layer, t in out["representations"].items()}
            for i, label in enumerate(labels):
                result = {"label": label}
                truncate_len = min(truncation_seq_length, len(strs[i]))
                if "per_tok" in include:
                    result["representations"] = {
                        layer: t[i, 1:truncate_len + 1].clone() for layer, t in representations.items()}
                if "mean" in include:
                    result["mean_representations"] = {
                        layer: t[i, 1:truncate_len + 1].mean(0).clone()
                        for layer, t in representations.items()}
                if "bos" in include:
                    result["bos_representations"] = {
                        layer: t[i, 0].clone() for layer, t in representations.items()}
                torch.save(result, output_dir / f"{label}.pt")


def run_hf_baseline(directory: Path, fasta: Path, output_dir: Path, include, device,
                    toks_per_batch: int, truncation_seq_length: int = 1022) -> None:
    """transformers' own loop: ``EsmTokenizer`` + ``EsmModel`` (SDPA, fp32), fair-esm's batches and files."""
    from esm import FastaBatchedDataset
    from transformers import EsmModel, EsmTokenizer

    model = EsmModel.from_pretrained(directory, add_pooling_layer=False,
                                     attn_implementation="sdpa").to(device).eval()
    tokenizer = EsmTokenizer.from_pretrained(directory)
    dataset = FastaBatchedDataset.from_file(fasta)
    output_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for batch in dataset.get_batch_indices(toks_per_batch, extra_toks_per_seq=1):
            labels = [dataset.sequence_labels[i] for i in batch]
            strs = [dataset.sequence_strs[i][:truncation_seq_length] for i in batch]
            encoded = tokenizer(strs, padding=True, return_tensors="pt").to(device)
            hidden = model(**encoded).last_hidden_state.to(device="cpu")
            for i, label in enumerate(labels):
                result, residues = {"label": label}, hidden[i, 1:len(strs[i]) + 1]
                if "per_tok" in include:
                    result["representations"] = {model.config.num_hidden_layers: residues.clone()}
                if "mean" in include:
                    result["mean_representations"] = {model.config.num_hidden_layers: residues.mean(0).clone()}
                if "bos" in include:
                    result["bos_representations"] = {model.config.num_hidden_layers: hidden[i, 0].clone()}
                torch.save(result, output_dir / f"{label}.pt")


BASELINES = {"esm": run_baseline, "hf": run_hf_baseline}


def run_ours(checkpoint: Path, fasta: Path, output_dir: Path, include, pool, args) -> None:
    """plmtransfer's extraction through the library call that scripts/extract.py makes."""
    run_extraction(str(checkpoint), fasta, output_dir, ExtractOptions(
        include=tuple(include), pool=tuple(pool), toks_per_batch=args.toks_per_batch,
        nogpu=args.nogpu, dtype=args.dtype, quiet=True))


def warm_up(model: Path, baseline, args, device, root: Path) -> None:
    """One untimed run of each side on a few sequences, so neither pays first-call costs."""
    fasta = root / "warm_up.fasta"
    fasta.write_text(">w1\nMKTAYIAKQRQISFVKSHFSRQ\n>w2\nMKTAYIAKQR\n")
    baseline(model, fasta, root / "warm_base", ("mean",), device, args.toks_per_batch)
    run_ours(model, fasta, root / "warm_ours", ("mean",), (), args)
    shutil.rmtree(root / "warm_base")
    shutil.rmtree(root / "warm_ours")


def timed(function, *arguments) -> float:
    """Wall-clock seconds of one call (CUDA synchronised)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    function(*arguments)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def matmul_peak_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of a size x size matmul: the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats):
        best = min(best, timed(torch.mm, a, b))
    return 2 * size**3 / best / 1e9


def flops_per_token(architecture: str, mean_tokens: float) -> float:
    """Useful forward FLOPs per token of an ESM-2: linear layers plus attention scores/values."""
    layers, dim, _ = TEST_ARCHITECTURES[architecture]
    return layers * (2 * 12 * dim * dim + 4 * mean_tokens * dim)


def main(argv=None) -> int:
    """Run every model x case, baseline then ours, and print a Markdown table."""
    args = create_parser().parse_args(argv)
    hf_logging.set_verbosity_error()  # transformers' load report and progress bars, per run
    hf_logging.disable_progress_bar()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.nogpu else "cpu")
    peak = matmul_peak_gflops(device)
    print(f"# extract benchmark  {time.strftime('%Y-%m-%d %H:%M')}  device={device} "
          f"({platform.processor() or platform.machine()}, torch threads "
          f"{torch.get_num_threads()})  fp32 matmul peak {peak:.1f} GFLOP/s")
    print("| backend | model | case | seqs | tokens | baseline tok/s | ours tok/s | ratio | "
          "baseline % peak | ours % peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    per_assay = dict(zip(args.models, args.per_assay + [args.per_assay[-1]] * len(args.models),
                         strict=False))
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as temporary:
        root = Path(temporary)
        for architecture in args.models:
            checkpoint = write_test_model(root / "models", architecture, seed=0)
            locations = {"esm": checkpoint,
                         "hf": convert_esm2_checkpoint(checkpoint, root / "models" / f"{checkpoint.stem}_hf")}
            fasta = root / f"dms_{architecture}.fasta"
            sequences, residues = build_fasta(args.mirror, per_assay[architecture], fasta)
            tokens = residues + 2 * sequences
            flops = flops_per_token(architecture, tokens / sequences)
            for backend in args.backends:
                model, baseline = locations[backend], BASELINES[backend]
                warm_up(model, baseline, args, device, root)
                for case in args.cases:
                    ours_include, ours_pool, baseline_include = CASES[case]
                    base_dir, ours_dir = root / f"base_{case}", root / f"ours_{case}"
                    base_s = ours_s = float("inf")
                    for _ in range(args.repeats):  # alternating, best of each: load spikes hit both
                        base_s = min(base_s, timed(baseline, model, fasta, base_dir, baseline_include,
                                                   device, args.toks_per_batch))
                        ours_s = min(ours_s, timed(run_ours, model, fasta, ours_dir, ours_include,
                                                   ours_pool, args))
                        shutil.rmtree(base_dir)
                        shutil.rmtree(ours_dir)
                    base_rate, ours_rate = tokens / base_s, tokens / ours_s
                    print(f"| {backend} | {architecture} | {case} | {sequences} | {tokens} | "
                          f"{base_rate:.0f} | {ours_rate:.0f} | {ours_rate / base_rate:.2f}x | "
                          f"{100 * base_rate * flops / 1e9 / peak:.1f}% | "
                          f"{100 * ours_rate * flops / 1e9 / peak:.1f}% |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
