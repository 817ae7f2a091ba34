"""Compression methods pinned against direct scikit-learn / scipy / numpy computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.fftpack import dct, idct
from sklearn.decomposition import PCA, KernelPCA
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.config import load_config
from plmtransfer.embed.methods import (
    IDCT_SHAPES,
    METHODS,
    CompressOptions,
    EqualLengthCheck,
    check_methods,
    compress_batch,
    compress_protein,
)
from plmtransfer.errors import UserError

TOLERANCE = 1e-5


def random_embedding(length: int, dim: int, seed: int) -> np.ndarray:
    """A float32 L x D matrix with column offsets and scales, like real embeddings."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.2, 3.0, size=dim)
    return (rng.standard_normal((length, dim)) * scales + rng.normal(size=dim)).astype(np.float32)


def scaled_transposed(embedding: np.ndarray) -> np.ndarray:
    """The study's input to (kernel) PCA: MinMax(-1, 1) over residues, then D x L."""
    return MinMaxScaler(feature_range=(-1, 1)).fit_transform(embedding.astype(np.float64)).T


# (L, D): L < D (covariance path), L > D (Gram path), D > 200 (KernelPCA uses arpack).
SHAPES = [(30, 48), (90, 40), (40, 240)]


@pytest.mark.parametrize(("length", "dim"), SHAPES)
def test_pca_methods_equal_sklearn_pca(length, dim):
    embedding = random_embedding(length, dim, seed=length + dim)
    scores = PCA(2).fit_transform(scaled_transposed(embedding))
    out = compress_protein(embedding, None, ["pca1", "pca2", "pca1-2"])
    np.testing.assert_allclose(out["pca1"], scores[:, 0], rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(out["pca2"], scores[:, 1], rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(out["pca1-2"], scores.T.reshape(-1), rtol=TOLERANCE, atol=TOLERANCE)
    assert out["pca1"].dtype == np.float32 and out["pca1-2"].shape == (2 * dim,)


@pytest.mark.parametrize(("length", "dim"), SHAPES)
@pytest.mark.parametrize("kernel", ["rbf", "sigmoid"])
def test_kernel_pca_methods_equal_sklearn_kernel_pca(length, dim, kernel):
    embedding = random_embedding(length, dim, seed=3 * length + dim)
    scores = KernelPCA(n_components=2, kernel=kernel, gamma=None,
                       random_state=0).fit_transform(scaled_transposed(embedding))
    out = compress_protein(embedding, None, [f"{kernel}1", f"{kernel}2"])
    np.testing.assert_allclose(out[f"{kernel}1"], scores[:, 0], rtol=TOLERANCE, atol=TOLERANCE)
    np.testing.assert_allclose(out[f"{kernel}2"], scores[:, 1], rtol=TOLERANCE, atol=TOLERANCE)


def reference_idct(embedding: np.ndarray, n: int, m: int) -> np.ndarray:
    """PROST's quantisation written directly with scipy.fftpack (constant vectors -> 0), x 127, float."""
    def transform_rows(values, keep):
        rows = idct(dct(values.T, type=2, norm="ortho")[:, :keep], type=2, norm="ortho")
        for index, row in enumerate(rows):
            span = row.max() - row.min()
            rows[index] = (row - row.min()) / span if span > 0 else 0.0
        return rows.T

    first = transform_rows(embedding[1:len(embedding) - 1].astype(np.float64), n)
    second = transform_rows(first.T, m).T
    return second.reshape(n * m) * 127


@pytest.mark.parametrize(("length", "dim", "names"), [
    (40, 130, ["iDCT1", "iDCT2", "iDCT3"]),
    (14, 640, ["iDCT4", "iDCT5"]),
])
def test_idct_methods_equal_direct_scipy(length, dim, names):
    embedding = random_embedding(length, dim, seed=dim)
    out = compress_protein(embedding, None, names)
    for name in names:
        n, m = IDCT_SHAPES[name]
        scaled = reference_idct(embedding, n, m)
        assert out[name].dtype == np.int8 and out[name].shape == (n * m,)
        difference = np.abs(out[name].astype(int) - scaled.astype(np.int8).astype(int))
        assert difference.max() <= 1, name
        on_boundary = np.abs(scaled - np.round(scaled)) < 1e-6
        assert not (difference > 0)[~on_boundary].any(), name  # only where int8 truncation is a tie
        assert out[name].min() >= 0 and out[name].max() == 127


def test_simple_methods_equal_numpy():
    embedding = random_embedding(25, 16, seed=1)
    bos = np.arange(16, dtype=np.float32)
    out = compress_protein(embedding, bos, ["mean", "bos", "maxPool", "flat"])
    np.testing.assert_allclose(out["mean"], embedding.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(out["bos"], bos)
    np.testing.assert_array_equal(out["maxPool"], embedding.max(axis=0))
    np.testing.assert_array_equal(out["flat"], embedding.reshape(-1))


def test_swe_is_quantiles_of_seeded_projections():
    embedding = random_embedding(50, 20, seed=2)
    options = CompressOptions(swe_directions=8, swe_quantiles=5, seed=7)
    out = compress_protein(embedding, None, ["swe"], options)["swe"]
    directions = np.random.default_rng(7).standard_normal((20, 8))
    directions /= np.linalg.norm(directions, axis=0)
    projected = embedding.astype(np.float64) @ directions
    expected = np.stack([np.quantile(projected[:, k], (np.arange(5) + 0.5) / 5) for k in range(8)])
    np.testing.assert_allclose(out, expected.reshape(-1), rtol=TOLERANCE, atol=TOLERANCE)
    other_seed = compress_protein(embedding, None, ["swe"], CompressOptions(8, 5, seed=8))["swe"]
    assert not np.allclose(out, other_seed)
    default = compress_protein(embedding, None, ["swe"])["swe"]
    assert default.shape == (64 * 16,)


def test_batch_equals_one_protein_at_a_time_and_registry_functions():
    proteins = np.stack([random_embedding(30, 130, seed=seed) for seed in range(3)])
    bos = proteins[:, 0, :]
    methods = [name for name in METHODS if name not in ("iDCT4", "iDCT5")]
    extras = {"c_final": proteins[:, 1, :] * 3, "contacts": np.random.default_rng(0).uniform(size=(3, 30, 30))}
    batch = compress_batch(proteins, bos, methods, extras=extras)
    for index in range(3):
        single = compress_protein(proteins[index], bos[index], methods,
                                  extras={name: matrix[index] for name, matrix in extras.items()})
        for name in methods:
            np.testing.assert_allclose(batch[name][index], single[name], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(METHODS["rbf2"].function(proteins[1], None), batch["rbf2"][1],
                               rtol=1e-6, atol=1e-6)
    assert METHODS["bos"].needs_bos and not METHODS["pca1"].needs_bos


def test_the_study_list_names_fourteen_registered_methods():
    """config/study.yaml's ``study`` list: the study's 14 methods, each registered with a reference; not pca1-2."""
    study_methods = load_config()["method_lists"]["study"]
    assert len(study_methods) == len(set(study_methods)) == 14
    assert set(study_methods) <= set(METHODS) and "pca1-2" not in study_methods
    assert all(METHODS[name].reference for name in METHODS)


def test_constant_column_scales_to_zero_not_nan():
    embedding = random_embedding(20, 64, seed=4)
    embedding[:, 5] = 0.25
    out = compress_protein(embedding, None, ["iDCT1", "pca1", "rbf1"])
    assert all(np.isfinite(vector.astype(np.float64)).all() for vector in out.values())
    constant = np.ones((20, 64), dtype=np.float32)
    assert not compress_protein(constant, None, ["iDCT2"])["iDCT2"].any()


@pytest.mark.parametrize(("name", "length", "dim", "message"), [
    ("iDCT2", 11, 128, "iDCT2 needs at least 12 residues .* got 11: 1 short"),
    ("iDCT1", 5, 128, "iDCT1 needs at least 7 residues .* got 5: 2 short"),
    ("iDCT4", 30, 320, "iDCT4 needs an embedding dimension of at least 512, got 320: 192 short"),
    ("pca1", 1, 16, "need at least 2 residues"),
])
def test_shortfalls_name_method_and_amount(name, length, dim, message):
    with pytest.raises(UserError, match=message):
        compress_protein(np.ones((length, dim), dtype=np.float32), None, [name])


def test_bos_without_vector_and_unknown_method_are_user_errors():
    with pytest.raises(UserError, match="--include bos"):
        compress_protein(np.ones((4, 8)), None, ["bos"])
    with pytest.raises(UserError, match="unknown compression method.*nope"):
        check_methods(["mean", "nope"])
    assert check_methods(["mean", "pca1", "mean"]) == ["mean", "pca1"]


def test_equal_length_check_names_both_proteins():
    check = EqualLengthCheck()
    check.add("a", 10)
    check.add("b", 10)
    with pytest.raises(UserError, match="c has 11 residues but a has 10"):
        check.add("c", 11)
