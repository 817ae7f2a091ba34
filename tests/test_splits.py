"""Outer CV schemes on hand-made mutant lists: random, contiguous, modulo, predefined."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold

from plmtransfer.errors import UserError
from plmtransfer.learn import splits

# positions 3 3 5 7 9 11 12 12 15 20 21 -> 9 distinct mutated positions
MUTANTS = ["A3P", "A3G", "C5D", "E7F", "G9H", "I11K", "L12M", "L12N", "P15Q", "R20S", "T21V"]


def rows_tested_once(folds):
    """Every row is tested exactly once and never trained on in its own fold."""
    for train, test in folds:
        assert not set(train) & set(test)
    tested = np.sort(np.concatenate([test for _, test in folds]))
    return tested


def test_random_is_the_studys_kfold():
    expected = list(KFold(n_splits=5, shuffle=True, random_state=42).split(np.zeros((23, 1))))
    for (train, test), (train_ref, test_ref) in zip(splits.random_folds(23), expected, strict=True):
        np.testing.assert_array_equal(train, train_ref)
        np.testing.assert_array_equal(test, test_ref)


def test_contiguous_blocks_of_sorted_positions():
    # 9 positions in 5 blocks: sizes 2 2 2 2 1 -> {3,5} {7,9} {11,12} {15,20} {21}
    folds = splits.contiguous_folds(MUTANTS)
    tests = [list(test) for _, test in folds]
    assert tests == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9], [10]]
    np.testing.assert_array_equal(rows_tested_once(folds), np.arange(len(MUTANTS)))


def test_modulo_assigns_rank_mod_five():
    # ranks 3:0 5:1 7:2 9:3 11:4 12:5 15:6 20:7 21:8 -> folds r mod 5
    folds = splits.modulo_folds(MUTANTS)
    tests = [list(test) for _, test in folds]
    assert tests == [[0, 1, 6, 7], [2, 8], [3, 9], [4, 10], [5]]
    np.testing.assert_array_equal(rows_tested_once(folds), np.arange(len(MUTANTS)))


def test_position_schemes_never_share_a_position_between_train_and_test():
    positions = np.array([splits.mutant_position(mutant) for mutant in MUTANTS])
    for folds in (splits.contiguous_folds(MUTANTS), splits.modulo_folds(MUTANTS)):
        for train, test in folds:
            assert not set(positions[train]) & set(positions[test])


def test_too_few_positions_is_an_error():
    with pytest.raises(UserError, match="only 3 distinct mutated position"):
        splits.contiguous_folds(["A1C", "A1D", "C2E", "D3F"])


@pytest.mark.parametrize("mutant", ["WT", "A23P:G45D", "23P", ""])
def test_position_needs_a_single_substitution(mutant):
    with pytest.raises(UserError, match="single substitution"):
        splits.mutant_position(mutant)


def test_multi_mutant_detection():
    assert splits.is_multi_mutant("A23P:G45D")
    assert not splits.is_multi_mutant("A23P")


def test_predefined_split_from_set_column():
    folds = splits.predefined_folds(["train", "test", "Train", "train", "test "])
    assert len(folds) == 1
    assert list(folds[0][0]) == [0, 2, 3]
    assert list(folds[0][1]) == [1, 4]


@pytest.mark.parametrize(("sets", "message"), [
    (["train", "valid", "test"], "must hold 'train' or 'test'"),
    (["train", "train"], "needs both train and test"),
])
def test_predefined_errors(sets, message):
    with pytest.raises(UserError, match=message):
        splits.predefined_folds(sets)
