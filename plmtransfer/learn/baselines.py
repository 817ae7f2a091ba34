"""FLIP's baselines (Dallago et al. 2021), as FLIP's own code defines them.

Sources (J-SNACKKB/FLIP, ``baselines/`` at commit 14301c5, the code behind the paper's tables):

- Levenshtein: ``levenshtein_blosum62_baselines.ipynb``, ``evaluate_task``: Spearman's rho of
  ``-levenshtein(wild type, variant)`` with the target over the test set (a smaller distance is
  expected to mean a fitter variant).
- BLOSUM62: the same notebook: Spearman's rho of ``sum_i BLOSUM62[wt_i, variant_i]`` over all
  aligned positions (identical ones included) with the target over the test set; defined only
  when every variant has the wild type's length. FLIP read Biopython's ``Bio.SubsMat.MatrixInfo
  .blosum62``; its successor ``Bio.Align.substitution_matrices.load("BLOSUM62")`` holds the same
  values.
- Ridge: the ``model == 'ridge'`` branch of ``train_all``, ``utils.load_dataset(val_split=False)``,
  ``utils.one_hot_pad_seqs`` and ``models.RidgeRegression``: one-hot over FLIP's vocabulary
  ``ARNDCQEGHILKMFPSTWYVXU`` (22 letters), padded with zeros to the longest sequence of the split
  (train and test), flattened; no scaling; ``Ridge(alpha=1.0, solver='lsqr', tol=1e-4,
  max_iter=1e6)`` fitted on every ``set == train`` row (validation rows included); Spearman's rho
  of the predictions on ``set == test`` (``evals.regression_eval``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge

FLIP_VOCAB = "ARNDCQEGHILKMFPSTWYVXU"
RIDGE_ALPHA = 1.0
RIDGE_TOL = 1e-4
RIDGE_MAX_ITER = 1_000_000  # FLIP passes 1e6; scikit-learn now requires an integer


def levenshtein(a: str, b: str) -> int:
    """Levenshtein (edit) distance between two strings: insertions, deletions, substitutions cost 1.

    Bit-parallel algorithm of Myers (1999) in Hyyrö's (2003) formulation: one column of the
    dynamic-programming table per character of ``a``, as bit vectors over ``b``; exact.
    """
    if len(b) > len(a):
        a, b = b, a
    if not b:
        return len(a)
    masks: dict[str, int] = {}
    for index, letter in enumerate(b):
        masks[letter] = masks.get(letter, 0) | (1 << index)
    full, top = (1 << len(b)) - 1, 1 << (len(b) - 1)
    positive, negative, distance = full, 0, len(b)
    for letter in a:
        equal = masks.get(letter, 0)
        vertical = equal | negative
        horizontal = (((equal & positive) + positive) ^ positive) | equal
        plus = negative | ~(horizontal | positive)
        minus = positive & horizontal
        if plus & top:
            distance += 1
        elif minus & top:
            distance -= 1
        plus = (plus << 1) | 1
        minus <<= 1
        positive = (minus | ~(vertical | plus)) & full
        negative = plus & vertical & full
    return distance


@cache
def blosum62() -> dict[tuple[str, str], float]:
    """BLOSUM62 as ``{(a, b): score}`` (Biopython's matrix, symmetric)."""
    from Bio.Align import substitution_matrices

    matrix = substitution_matrices.load("BLOSUM62")
    return {(a, b): float(matrix[a][b]) for a in matrix.alphabet for b in matrix.alphabet}


def blosum62_score(wildtype: str, variant: str) -> float:
    """FLIP's BLOSUM62 score: the sum of ``BLOSUM62[wt_i, variant_i]`` over all positions."""
    if len(wildtype) != len(variant):
        raise ValueError(f"BLOSUM62 scores need aligned sequences: lengths {len(wildtype)} and {len(variant)}")
    table = blosum62()
    return sum(table[pair] for pair in zip(wildtype, variant, strict=True))


def spearman(values: Sequence[float], target: Sequence[float]) -> float:
    """Spearman's rho (scipy), NaN when either side is constant."""
    values, target = np.asarray(values, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if np.ptp(values) == 0 or np.ptp(target) == 0:
        return float("nan")
    return float(spearmanr(values, target)[0])


def levenshtein_rho(wildtype: str, variants: Sequence[str], target: Sequence[float]) -> float:
    """FLIP's Levenshtein baseline: Spearman's rho of ``-levenshtein(wt, variant)`` with the target."""
    return spearman([-levenshtein(wildtype, variant) for variant in variants], target)


def blosum62_rho(wildtype: str, variants: Sequence[str], target: Sequence[float]) -> float:
    """FLIP's BLOSUM62 baseline: Spearman's rho of the BLOSUM62 score with the target."""
    return spearman([blosum62_score(wildtype, variant) for variant in variants], target)


def flip_onehot(sequences: Sequence[str], length: int) -> np.ndarray:
    """FLIP's ``one_hot_pad_seqs`` for many sequences: ``(n, length * 22)`` float64, zero-padded."""
    index = {letter: position for position, letter in enumerate(FLIP_VOCAB)}
    out = np.zeros((len(sequences), length, len(FLIP_VOCAB)))
    for row, sequence in enumerate(sequences):
        out[row, np.arange(len(sequence)), [index[letter] for letter in sequence]] = 1.0
    return out.reshape(len(sequences), -1)


def flip_ridge(train_sequences: Sequence[str], train_target: Sequence[float],
               test_sequences: Sequence[str], test_target: Sequence[float],
               alpha: float = RIDGE_ALPHA) -> tuple[float, np.ndarray]:
    """FLIP's ridge baseline: test Spearman's rho and the test predictions (see the module)."""
    length = max(len(sequence) for sequence in [*train_sequences, *test_sequences])
    model = Ridge(alpha=alpha, solver="lsqr", tol=RIDGE_TOL, max_iter=RIDGE_MAX_ITER)
    model.fit(flip_onehot(train_sequences, length), np.asarray(train_target, dtype=np.float64))
    predictions = model.predict(flip_onehot(test_sequences, length))
    return spearman(predictions, test_target), predictions
