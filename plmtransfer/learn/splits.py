"""Outer cross-validation schemes of the regression stage: which rows each fold tests on.

- ``random``: the study's ``KFold(n_splits=5, shuffle=True, random_state=42)`` over the rows.
- ``contiguous`` and ``modulo``: the position-based schemes of ProteinGym's supervised
  benchmark (Notin et al. 2023, ``create_folds_by_contiguous_position_discontiguous`` and
  ``create_folds_by_position_modulo`` in its fold-creation script). The sorted distinct
  mutated positions are numbered 0..P-1 (positions nobody mutated are skipped);
  ``contiguous`` cuts that list into 5 consecutive blocks (the first ``P mod 5`` blocks one
  longer), ``modulo`` sends the i-th position to fold ``i mod 5``. A variant is tested in the
  fold of its position, so the model never sees that position in training: these schemes
  measure extrapolation to unseen positions, which random k-fold on single mutants does not.
- ``predefined``: one train/test split given by a ``set`` column (``train``/``test``), as in
  the FLIP splits; or, with a fold column named (``--fold-column fold_contiguous_5``), the
  file's own folds: outer fold k tests on the rows holding the k-th smallest value of that
  column and trains on all others (ProteinGym's ``fold_random_5``, ``fold_modulo_5`` and
  ``fold_contiguous_5``, numbered 0-4, become folds 1-5).

Multi-mutants (``A23P:G45D``) can span several position folds. ProteinGym defines its
position schemes on single mutants only (its script removes multiples with
``keep_singles`` and gives them random folds stratified by depth in a separate file); we do
the same: under ``contiguous``/``modulo`` multi-mutant rows are left out (with a warning
giving the count) rather than assigned by an arbitrary one of their positions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from plmtransfer.errors import UserError
from plmtransfer.options import CV_SCHEMES  # noqa: F401  (re-exported: splits.CV_SCHEMES)

N_FOLDS = 5
RANDOM_STATE = 42
_SUBSTITUTION = re.compile(r"^[A-Z*](\d+)[A-Z*]$")

Split = tuple[np.ndarray, np.ndarray]


def random_folds(n_rows: int, n_folds: int = N_FOLDS) -> list[Split]:
    """The study's outer CV: ``KFold(n_folds, shuffle=True, random_state=42)`` over ``n_rows``."""
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=RANDOM_STATE)
    return list(folds.split(np.zeros((n_rows, 1))))


def is_multi_mutant(mutant: str) -> bool:
    """True for a variant with more than one substitution (``A23P:G45D``)."""
    return ":" in str(mutant)


def is_single_substitution(mutant: str) -> bool:
    """True for one substitution such as ``A23P`` (not ``WT``, not a multi-mutant)."""
    return _SUBSTITUTION.match(str(mutant).strip()) is not None


def mutant_position(mutant: str) -> int:
    """The 1-based position of a single substitution such as ``A23P``; error otherwise."""
    match = _SUBSTITUTION.match(str(mutant).strip())
    if match is None:
        raise UserError(f"mutant {mutant!r} is not a single substitution like 'A23P': "
                        "position-based CV needs one")
    return int(match.group(1))


def _folds_from_labels(fold_of_row: np.ndarray, n_folds: int) -> list[Split]:
    """Turn a fold label per row into (train, test) index pairs, fold 0 first."""
    rows = np.arange(len(fold_of_row))
    return [(rows[fold_of_row != fold], rows[fold_of_row == fold]) for fold in range(n_folds)]


def _position_ranks(mutants: Sequence[str], n_folds: int) -> tuple[np.ndarray, int]:
    """Rank of each row's position among the sorted distinct mutated positions, and their count."""
    positions = np.array([mutant_position(mutant) for mutant in mutants])
    distinct = np.unique(positions)
    if len(distinct) < n_folds:
        raise UserError(f"only {len(distinct)} distinct mutated position(s): position-based CV "
                        f"needs at least {n_folds}")
    return np.searchsorted(distinct, positions), len(distinct)


def contiguous_folds(mutants: Sequence[str], n_folds: int = N_FOLDS) -> list[Split]:
    """ProteinGym's contiguous scheme: consecutive blocks of the sorted mutated positions."""
    ranks, n_positions = _position_ranks(mutants, n_folds)
    block, extra = divmod(n_positions, n_folds)
    fold_of_rank = np.repeat(np.arange(n_folds), [block + (fold < extra) for fold in range(n_folds)])
    return _folds_from_labels(fold_of_rank[ranks], n_folds)


def modulo_folds(mutants: Sequence[str], n_folds: int = N_FOLDS) -> list[Split]:
    """ProteinGym's modulo scheme: the i-th sorted mutated position goes to fold ``i mod n``."""
    ranks, _ = _position_ranks(mutants, n_folds)
    return _folds_from_labels(ranks % n_folds, n_folds)


def predefined_folds(sets: Sequence[str]) -> list[Split]:
    """One split from a ``set`` column holding ``train`` or ``test`` for every row."""
    labels = np.array([str(value).strip().lower() for value in sets])
    unknown = sorted(set(labels) - {"train", "test"})
    if unknown:
        raise UserError(f"column 'set' must hold 'train' or 'test', found {unknown[:5]}")
    rows = np.arange(len(labels))
    train, test = rows[labels == "train"], rows[labels == "test"]
    if len(train) == 0 or len(test) == 0:
        raise UserError(f"column 'set' needs both train and test rows (train {len(train)}, "
                        f"test {len(test)})")
    return [(train, test)]


def column_folds(values: Sequence, column: str) -> list[Split]:
    """The folds a fold column assigns: fold k tests on the rows holding its k-th smallest value.

    The values must be whole numbers (ProteinGym's 0..4), present in every row, with at least
    two distinct values; anything else is an error naming ``column``.
    """
    labels = pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(dtype=np.float64)
    missing = np.flatnonzero(~np.isfinite(labels))
    if len(missing):
        raise UserError(f"fold column {column!r}: row {missing[0] + 1} has no fold number "
                        f"({len(missing)} such rows)")
    fractional = np.flatnonzero(labels != np.round(labels))
    if len(fractional):
        raise UserError(f"fold column {column!r}: row {fractional[0] + 1} holds {labels[fractional[0]]}, "
                        "not a whole fold number")
    distinct = np.unique(labels)
    if len(distinct) < 2:
        raise UserError(f"fold column {column!r} holds one fold only ({distinct[0]:g}): nothing to test on")
    return _folds_from_labels(np.searchsorted(distinct, labels), len(distinct))
