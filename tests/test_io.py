"""Atomic writes and the compressed-embedding contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, load_compressed, save_compressed

VECTORS = {"v1": np.array([1.0, 2.0, 3.0], dtype=np.float32),
           "v2": np.array([-1.0, 0.5, 9.0], dtype=np.float32)}


def assert_same(loaded, expected):
    assert list(loaded) == list(expected)
    for label in expected:
        np.testing.assert_array_equal(loaded[label], expected[label])


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_round_trip(tmp_path, suffix):
    path = save_compressed(VECTORS, tmp_path / f"embed_layer_6_mean{suffix}")
    assert_same(load_compressed(path), VECTORS)


def test_reads_pt_and_csv(tmp_path):
    torch.save({label: torch.from_numpy(vector) for label, vector in VECTORS.items()},
               tmp_path / "e.pt")
    assert_same(load_compressed(tmp_path / "e.pt"), VECTORS)
    frame = pd.DataFrame(np.stack(list(VECTORS.values())), columns=["f0", "f1", "f2"])
    frame.insert(0, "ID", list(VECTORS))
    frame.to_csv(tmp_path / "e.csv", index=False)
    loaded = load_compressed(tmp_path / "e.csv")
    assert list(loaded) == list(VECTORS)
    np.testing.assert_allclose(loaded["v2"], VECTORS["v2"])


def test_csv_needs_id_first(tmp_path):
    pd.DataFrame({"x": [1], "ID": ["a"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UserError, match="first column of a CSV of embeddings must be 'ID'"):
        load_compressed(tmp_path / "bad.csv")


def test_npz_refuses_unequal_lengths_and_writes_nothing(tmp_path):
    with pytest.raises(UserError, match="unequal shapes"):
        save_compressed({"a": np.zeros(2), "b": np.zeros(3)}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("crash while writing")
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []


def test_atomic_write_replaces_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_open(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_outputs_get_the_permissions_open_gives(tmp_path):
    """Files are created as open() creates them (0o666 minus umask), not 0o600 as mkstemp does."""
    with atomic_open(tmp_path / "atomic.txt") as handle:
        handle.write("x")
    (tmp_path / "plain.txt").write_text("x")
    mode = (tmp_path / "atomic.txt").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777
    assert mode != 0o600


def test_repeated_ids_in_npz_are_an_error(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, ids=np.array(["a", "b", "a"]), matrix=np.zeros((3, 2)))
    with pytest.raises(UserError, match=r"1 repeated ID\(s\) in the embeddings, e.g. \['a'\]"):
        load_compressed(path)
