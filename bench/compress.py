#!/usr/bin/env python
"""Benchmark of the compression stage: the study's per-method loop vs one pass over all methods.

Input: per-residue embeddings of a real DMS assay from the offline mirror, made by a direct
fair-esm forward pass of a random test model with the exact ESM-2 8M shape (its embeddings
carry no biology: only timings and sizes are measured here), saved as fair-esm extract.py
dicts (--include per_tok bos mean).

Baseline = what the study's compressing_embeddings.py loop did: one Python process per method,
each loading every .pt, computing that method with scikit-learn/scipy (MinMaxScaler + PCA /
KernelPCA, scipy.fftpack iDCT), saving a temporary .npy per protein, then gathering them into
the pickle. Ours = scripts/compress.py with all methods in one run. Both are timed from the
process start, on the same files, in this one run; the outputs are compared.

Run it under the shared lock:
  flock /tmp/plmtransfer-bench.lock .venv/bin/python bench/compress.py
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from plmtransfer import config as study_config
from plmtransfer import layout

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MIRROR = Path(os.environ.get("PLMTRANSFER_MIRROR", REPO_ROOT.parent / "shared" / "data"))
IDCT_SHAPES = {"iDCT1": (5, 44), "iDCT2": (10, 64), "iDCT3": (10, 128), "iDCT4": (10, 512),
               "iDCT5": (10, 640)}
# the study's methods (config/study.yaml) and pca1-2, which shares their PCA
METHODS = [*study_config.method_list("study", study_config.load_config()), "pca1-2"]


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR,
                        help="offline data mirror (default: %(default)s)")
    parser.add_argument("--assay", default="IF1_ECOLI", help="DMS assay (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=100,
                        help="number of variants (rows) to use (default: %(default)s)")
    parser.add_argument("--arch", default="8M", help="test-model shape (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="our worker processes (default: 2)")
    parser.add_argument("--baseline-method", nargs=4, metavar=("METHOD", "EMBED", "OUT", "LAYER"),
                        help=argparse.SUPPRESS)
    return parser


# --- the study's per-method loop (baseline), one process per method -----------------------------

def baseline_compress(method: str, embed: np.ndarray) -> np.ndarray:
    """One method on one protein the way the study's script computed it (float32, sklearn)."""
    import pandas as pd
    from scipy.fftpack import dct, idct
    from sklearn.decomposition import PCA, KernelPCA
    from sklearn.preprocessing import MinMaxScaler

    def scaled_transposed():
        return pd.DataFrame(MinMaxScaler(feature_range=(-1, 1)).fit_transform(embed)).T

    def unit(vector):
        return (vector - vector.min()) / float(vector.max() - vector.min())

    def idct_rows(values, n):
        coefficients = dct(values.T, type=2, norm="ortho")
        rows = idct(coefficients[:, :n], type=2, norm="ortho")
        for index in range(len(rows)):
            rows[index] = unit(rows[index])
        return rows.T

    if method == "maxPool":
        return embed.max(axis=0)
    if method.startswith("pca"):
        scores = PCA(2).fit_transform(scaled_transposed()).T
        return {"pca1": scores[0], "pca2": scores[1], "pca1-2": scores.reshape(-1)}[method]
    if method.startswith(("rbf", "sigmoid")):
        kernel = "rbf" if method.startswith("rbf") else "sigmoid"
        scores = KernelPCA(kernel=kernel, gamma=None, n_components=2).fit_transform(
            scaled_transposed()).T
        return scores[int(method[-1]) - 1]
    n, m = IDCT_SHAPES[method]
    first = idct_rows(embed[1:len(embed) - 1], n)
    second = idct_rows(first.T, m).T
    return (second.reshape(n * m) * 127).astype("int8")


def run_baseline_method(method: str, embed_dir: str, out_dir: str, layer: int) -> None:
    """The study's loop for one method: load every .pt, compute, save .npy, gather, pickle."""
    import torch

    temporary = Path(out_dir) / f"tmp_{method}"
    temporary.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(embed_dir):
        if not name.endswith(".pt"):
            continue
        data = torch.load(os.path.join(embed_dir, name), weights_only=True)
        label = name.split(".pt")[0]
        if method == "mean":
            vector = data["mean_representations"][layer].numpy()
        elif method == "bos":
            vector = data["bos_representations"][layer].numpy()
        else:
            vector = baseline_compress(method, data["representations"][layer].numpy())
        np.save(temporary / f"{label}.npy", vector)
    gathered = {name[:-4]: np.load(temporary / name) for name in os.listdir(temporary)}
    shutil.rmtree(temporary)
    with open(layout.compressed_file(out_dir, layer, method), "wb") as handle:
        pickle.dump(gathered, handle)


# --- input generation ------------------------------------------------------------------------------

def write_embeddings(mirror: Path, assay: str, limit: int, arch: str, work: Path) -> tuple[Path, int]:
    """Per-residue .pt files (fair-esm extract.py dicts) of ``limit`` variants; returns (dir, layer)."""
    import pandas as pd
    import torch

    from plmtransfer.backends.esm.featuriser import load_model, write_test_model

    table = pd.read_csv(mirror / "dms" / f"{assay}.csv.gz").head(limit)
    loaded = load_model(str(write_test_model(work / "model", arch, seed=0)))
    layer = loaded.num_layers
    converter = loaded.alphabet.get_batch_converter()
    embed_dir = work / "per_tok"
    embed_dir.mkdir()
    rows = list(zip(table["ID"].astype(str), table["sequence"], strict=True))
    with torch.no_grad():
        for start in range(0, len(rows), 32):
            labels, _, tokens = converter(rows[start:start + 32])
            output = loaded.model(tokens, repr_layers=[layer])["representations"][layer]
            for index, (label, sequence) in enumerate(rows[start:start + 32]):
                residues = output[index, 1:len(sequence) + 1].clone()
                torch.save({"label": label, "representations": {layer: residues},
                            "mean_representations": {layer: residues.mean(0).clone()},
                            "bos_representations": {layer: output[index, 0].clone()}},
                           embed_dir / f"{label}.pt")
    return embed_dir, layer


# --- measurement ------------------------------------------------------------------------------------

def timed(command: list[str]) -> float:
    """Wall-clock seconds of one subprocess (which must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def compare(baseline_dir: Path, ours_dir: Path, methods: list[str], layer: int) -> dict[str, float]:
    """Largest absolute difference per method between the baseline's and our outputs."""
    differences = {}
    for method in methods:
        with open(layout.compressed_file(baseline_dir, layer, method), "rb") as handle:
            baseline = pickle.load(handle)
        with open(layout.compressed_file(ours_dir, layer, method), "rb") as handle:
            ours = pickle.load(handle)
        assert baseline.keys() == ours.keys(), method
        differences[method] = max(float(np.abs(baseline[label].astype(np.float64)
                                               - ours[label].astype(np.float64)).max())
                                  for label in baseline)
    return differences


def directory_bytes(directory: Path, suffix: str) -> int:
    """Total size of the files with ``suffix`` in ``directory``."""
    return sum(path.stat().st_size for path in directory.glob(f"*{suffix}"))


def main(argv=None) -> int:
    """Make the input, run baseline and ours, print times, ratio, agreement and sizes."""
    import torch

    args = create_parser().parse_args(argv)
    if args.baseline_method:
        method, embed_dir, out_dir, layer = args.baseline_method
        run_baseline_method(method, embed_dir, out_dir, int(layer))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as work_name:
        work = Path(work_name)
        embed_dir, layer = write_embeddings(args.mirror, args.assay, args.limit, args.arch, work)
        count = len(list(embed_dir.glob("*.pt")))
        sample = torch.load(next(embed_dir.glob("*.pt")), weights_only=True)["representations"][layer]
        dim = sample.shape[1]
        methods = [name for name in METHODS if IDCT_SHAPES.get(name, (0, 0))[1] <= dim]
        skipped = [name for name in METHODS if name not in methods]
        print(f"{count} proteins of {args.assay}, length {sample.shape[0]}, dim {dim}, layer {layer}; "
              f"methods: {' '.join(methods)}"
              + (f" (not defined at dim {dim}: {' '.join(skipped)})" if skipped else ""))
        baseline_dir, ours_dir = work / "baseline", work / "ours"
        baseline_dir.mkdir()
        baseline_seconds = 0.0
        for method in methods:
            seconds = timed([sys.executable, __file__, "--baseline-method", method, str(embed_dir),
                             str(baseline_dir), str(layer)])
            print(f"  baseline {method:<9} {seconds:8.2f} s")
            baseline_seconds += seconds
        ours_seconds = timed([sys.executable, "scripts/compress.py", "-e", str(embed_dir), "-o",
                              str(ours_dir), "-l", str(layer), "--jobs", str(args.jobs), "--quiet",
                              "-c", *methods])
        differences = compare(baseline_dir, ours_dir, methods, layer)
        print("\nlargest |baseline - ours| per method (baseline computes in float32):")
        print("  " + ", ".join(f"{name} {value:.2g}" for name, value in differences.items()))
        print(f"\n| run | seconds | per protein (ms) |\n|---|---|---|\n"
              f"| baseline: study loop, {len(methods)} processes | {baseline_seconds:.2f} | "
              f"{1000 * baseline_seconds / count:.1f} |\n"
              f"| ours: one pass, --jobs {args.jobs} | {ours_seconds:.2f} | "
              f"{1000 * ours_seconds / count:.1f} |\n"
              f"ratio baseline / ours: {baseline_seconds / ours_seconds:.1f}x")
        per_token = directory_bytes(embed_dir, ".pt") / count
        print(f"\nbytes on disk per protein: per-token .pt dump {per_token:.0f}")
        for method in methods:
            size = layout.compressed_file(ours_dir, layer, method).stat().st_size / count
            print(f"  {method:<9} {size:8.0f}  ({per_token / size:.0f}x smaller)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
