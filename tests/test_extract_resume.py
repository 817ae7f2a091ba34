"""A real SIGKILL of scripts/extract.py mid-run, then a resume, equals an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.io import load_compressed
from tests.conftest import REPO_ROOT

METHODS = ("mean", "bos", "maxPool")
SEQUENCE_COUNT = 300


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def many_sequences(tmp_path):
    """Deterministic random sequences of 20-60 residues, enough for many small batches."""
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    lines = []
    for i in range(SEQUENCE_COUNT):
        lines.append(f">s{i}\n{''.join(rng.choice(letters, rng.integers(20, 61)))}\n")
    path = tmp_path / "many.fasta"
    path.write_text("".join(lines))
    return path


def start(tiny_model, fasta, out, *flags):
    command = [sys.executable, str(REPO_ROOT / "scripts" / "extract.py"), str(tiny_model),
               str(fasta), str(out), "--toks_per_batch", "100", "--quiet", *flags]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_when(process, ready, timeout=60.0):
    """SIGKILL ``process`` as soon as ``ready()`` holds (it must not have finished by then)."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def partial_files(out):
    """Finished per-sequence files plus finished partial pooled files (hidden work folder)."""
    return len(list(out.glob("s*.pt"))) + len(list(out.glob(".extract-work-*/part-*.pt")))


@pytest.mark.parametrize("include", [("mean",), ()], ids=["include_and_pool", "pool_only"])
def test_sigkill_then_resume_gives_the_uninterrupted_outputs(tiny_model, many_sequences, tmp_path,
                                                            include):
    settings = ExtractOptions(include=include, pool=METHODS, toks_per_batch=100, quiet=True)
    reference = tmp_path / "reference"
    run_extraction(str(tiny_model), many_sequences, reference, settings)
    out = tmp_path / "killed"
    include_flags = ["--include", *include] if include else []
    process = start(tiny_model, many_sequences, out, *include_flags, "--pool", *METHODS)
    kill_when(process, lambda: partial_files(out) >= 20)
    assert not (out / "embed_layer_2_mean.pkl").exists()

    resumed = run_extraction(str(tiny_model), many_sequences, out, settings)
    assert 0 < resumed.skipped < SEQUENCE_COUNT
    assert resumed.computed == SEQUENCE_COUNT - resumed.skipped
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for method in METHODS:
        a = load_compressed(reference / f"embed_layer_2_{method}.pkl")
        b = load_compressed(out / f"embed_layer_2_{method}.pkl")
        assert list(a) == list(b) and len(a) == SEQUENCE_COUNT
        assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-6
    for i in range(SEQUENCE_COUNT if include else 0):
        expected = torch.load(reference / f"s{i}.pt", weights_only=True)["mean_representations"][2]
        got = torch.load(out / f"s{i}.pt", weights_only=True)["mean_representations"][2]
        assert float((expected - got).abs().max()) <= 1e-6
