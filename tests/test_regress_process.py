"""A regression job as its own process: what it imports and what it compiles.

A sweep runs thousands of regression processes, so their fixed cost counts: a regression job loads
no model backend and no torch (one-hot features for ``--features onehot+score`` are built with
numpy), and the compiled solver comes from numba's cache (``make install`` fills it), not from a
fresh compilation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from plmtransfer.data.sequences import STANDARD_AMINO_ACIDS

JOB = """
import sys
from plmtransfer.cli import reg_lassoCV
code = reg_lassoCV.main(sys.argv[1:])
heavy = sorted(name for name in sys.modules if name == "torch" or name.startswith("plmtransfer.backends"))
print("HEAVY", ",".join(heavy))
sys.exit(code)
"""


def scored_variants(tmp_path: Path, n_rows: int = 60) -> tuple[Path, Path]:
    """Single mutants of a 12-residue protein with a target and a zero-shot score that tracks it."""
    rng = np.random.default_rng(0)
    wildtype = "MKTAYIAKQRQI"
    rows = []
    for index in range(n_rows):
        position = index % len(wildtype)
        letter = STANDARD_AMINO_ACIDS[(index * 7) % 20]
        sequence = wildtype[:position] + letter + wildtype[position + 1:]
        rows.append({"ID": f"V{index}", "mutant": f"{wildtype[position]}{position + 1}{letter}",
                     "sequence": sequence, "target": rng.normal()})
    metadata = pd.DataFrame(rows)
    metadata_path = tmp_path / "meta.csv"
    metadata.to_csv(metadata_path, index=False)
    scores_path = tmp_path / "scores.csv"
    pd.DataFrame({"ID": metadata["ID"], "mutant": metadata["mutant"],
                  "score": metadata["target"] + rng.normal(scale=0.1, size=n_rows)}).to_csv(scores_path, index=False)
    return metadata_path, scores_path


def test_a_regression_job_imports_no_torch_and_no_backend(tmp_path):
    metadata_path, scores_path = scored_variants(tmp_path)
    output = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-c", JOB, "-i", str(scores_path), "-m", str(metadata_path),
                           "-o", str(output), "--features", "onehot+score", "--solver", "compiled", "--quiet"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "HEAVY \n" in done.stdout
    results = pd.read_csv(output)
    assert len(results) == 5 and results["Compression_method"].iloc[0].endswith("+score")
    assert results["R2_score_test"].notna().all()


def test_the_compiled_solver_is_loaded_from_the_cache_not_compiled(tmp_path):
    """After :func:`plmtransfer.learn.lasso.compile_solver` (what ``make install`` runs), a job that
    solves with the compiled search writes no new entry into numba's cache: it compiled nothing."""
    from plmtransfer.learn import coordinate_descent
    from plmtransfer.learn.lasso import compile_solver

    compile_solver()
    cache = Path(coordinate_descent.__file__).parent / "__pycache__"
    before = {path.name: path.stat().st_mtime_ns for path in cache.glob("coordinate_descent*")}
    assert any(name.endswith(".nbc") for name in before)
    metadata_path, scores_path = scored_variants(tmp_path)
    done = subprocess.run([sys.executable, "-c", JOB, "-i", str(scores_path), "-m", str(metadata_path),
                           "-o", str(tmp_path / "out.csv"), "--features", "onehot+score", "--solver", "compiled",
                           "--quiet"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    after = {path.name: path.stat().st_mtime_ns for path in cache.glob("coordinate_descent*")}
    assert after == before
