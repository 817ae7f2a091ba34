"""The extraction stage: fair-esm equality, pooling, long sequences, labels, bad input, onehot."""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import pytest
import torch

from plmtransfer.backends.esm import featuriser as esm
from plmtransfer.backends.esm.featuriser import LoadedModel, load_model
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.extract import main as cli_main
from plmtransfer.data.sequences import onehot_encode
from plmtransfer.embed import extract
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed

TOLERANCE = 1e-5
SEQUENCES = {
    "short": "MKTAYIAKQR",
    "mid": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV",
    "tiny_one": "MK",
    "long": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ",
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_fasta_text(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def fasta(tmp_path):
    body = "".join(f">{label}\n{sequence}\n" for label, sequence in SEQUENCES.items())
    return write_fasta_text(tmp_path / "in.fasta", body)


@pytest.fixture(scope="module")
def reference(tiny_model):
    """A fair-esm forward pass, one unpadded sequence at a time (the ground truth)."""
    model = load_model(str(tiny_model)).model
    converter = model.alphabet.get_batch_converter() if hasattr(model, "alphabet") else None

    def forward(sequence, layers, contacts=False):
        _, _, tokens = converter([("x", sequence)])
        with torch.no_grad():
            return model(tokens, repr_layers=layers, return_contacts=contacts)

    return forward


def options(**kwargs):
    kwargs.setdefault("quiet", True)
    return ExtractOptions(**kwargs)


def load_pt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_per_sequence_files_equal_a_fair_esm_forward(tiny_model, fasta, tmp_path, reference):
    out = tmp_path / "out"
    run_extraction(str(tiny_model), fasta, out, options(
        include=("mean", "per_tok", "bos", "contacts"), repr_layers=(0, 1, -1), toks_per_batch=80))
    for label, sequence in SEQUENCES.items():
        result = load_pt(out / f"{label}.pt")
        assert list(result) == ["label", "representations", "mean_representations",
                                "bos_representations", "contacts"]
        assert result["label"] == label
        expected = reference(sequence, [0, 1, 2], contacts=True)
        for layer in (0, 1, 2):
            full = expected["representations"][layer][0]
            got = result["representations"][layer]
            assert got.shape == (len(sequence), 32) and got.dtype == torch.float32
            assert torch.allclose(got, full[1:len(sequence) + 1], atol=TOLERANCE, rtol=0)
            assert torch.allclose(result["mean_representations"][layer],
                                  full[1:len(sequence) + 1].mean(0), atol=TOLERANCE, rtol=0)
            assert torch.allclose(result["bos_representations"][layer], full[0],
                                  atol=TOLERANCE, rtol=0)
        assert torch.allclose(result["contacts"], expected["contacts"][0], atol=TOLERANCE, rtol=0)


def test_stopping_early_at_an_intermediate_layer_matches_fair_esm(tiny_model, fasta, tmp_path,
                                                                  reference):
    out = tmp_path / "out"
    run_extraction(str(tiny_model), fasta, out, options(include=("per_tok",), repr_layers=(-2,)))
    for label, sequence in SEQUENCES.items():
        got = load_pt(out / f"{label}.pt")["representations"]
        assert list(got) == [1]
        expected = reference(sequence, [1])["representations"][1][0, 1:len(sequence) + 1]
        assert torch.allclose(got[1], expected, atol=TOLERANCE, rtol=0)


def test_fast_esm2_path_equals_fair_esm_on_a_padded_masked_batch(tiny_model):
    loaded = load_model(str(tiny_model))
    model = loaded.model
    tokens = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32).tokenise(
        ["MKTAYIAKQR", "MKL", "MKTAYIAKQRQISFVK"])
    tokens[0, 3] = model.mask_idx  # token-dropout rescaling must be replicated too
    with torch.inference_mode():
        ours = esm.esm2_representations(model, tokens, [1, 2])
        theirs = model(tokens, repr_layers=[1, 2])["representations"]
    not_padding = tokens.ne(model.padding_idx)
    for layer in (1, 2):
        assert torch.allclose(ours[layer][not_padding], theirs[layer][not_padding], atol=TOLERANCE)


def test_generic_path_serves_esm1b_models():
    from esm.data import Alphabet
    from esm.model.esm1 import ProteinBertModel

    torch.manual_seed(0)
    args = argparse.Namespace(arch="roberta_large", layers=2, embed_dim=32, ffn_embed_dim=64,
                              attention_heads=4, max_positions=1024, emb_layer_norm_before=True,
                              token_dropout=False, final_bias=True, dropout=0.0)
    alphabet = Alphabet.from_architecture("ESM-1b")
    model = ProteinBertModel(args, alphabet).eval()
    loaded = LoadedModel(model, alphabet, "esm1b_tiny", None, 2, 32, False)
    featuriser = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32)
    got = featuriser.embed(["MKTAYIAKQR", "MKL"], [2], contacts=False)
    _, _, tokens = alphabet.get_batch_converter()([("x", "MKL")])
    with torch.no_grad():
        expected = model(tokens, repr_layers=[2])["representations"][2][0]
    assert torch.allclose(got[1].representations[2], expected[1:4], atol=TOLERANCE)
    assert torch.allclose(got[1].bos[2], expected[0], atol=TOLERANCE)


def test_pool_writes_the_contract_and_agrees_with_per_token_output(tiny_model, fasta, tmp_path):
    per_tok, pooled = tmp_path / "per_tok", tmp_path / "pooled"
    run_extraction(str(tiny_model), fasta, per_tok, options(include=("per_tok", "bos")))
    summary = run_extraction(str(tiny_model), fasta, pooled,
                             options(pool=("mean", "bos", "maxPool"), format="npz"))
    assert sorted(path.name for path in pooled.iterdir()) == [
        "embed_layer_2_bos.npz", "embed_layer_2_maxPool.npz", "embed_layer_2_mean.npz"]
    assert len(summary.pooled_files) == 3
    vectors = {method: load_compressed(pooled / f"embed_layer_2_{method}.npz")
               for method in ("mean", "bos", "maxPool")}
    for label in SEQUENCES:
        result = load_pt(per_tok / f"{label}.pt")
        residues = result["representations"][2].numpy()
        assert np.allclose(vectors["mean"][label], residues.mean(0), atol=1e-6)
        assert np.allclose(vectors["maxPool"][label], residues.max(0), atol=1e-6)
        assert np.allclose(vectors["bos"][label], result["bos_representations"][2].numpy(),
                           atol=1e-6)


def test_pool_pkl_keeps_fasta_order_and_is_a_plain_dict(tiny_model, fasta, tmp_path):
    run_extraction(str(tiny_model), fasta, tmp_path / "o", options(pool=("mean",)))
    with open(tmp_path / "o" / "embed_layer_2_mean.pkl", "rb") as handle:
        data = pickle.load(handle)
    assert list(data) == list(SEQUENCES)
    assert all(vector.shape == (32,) for vector in data.values())


def test_chunk_equals_plain_forward_when_sequences_fit(tiny_model, fasta, tmp_path):
    plain, chunked = tmp_path / "plain", tmp_path / "chunk"
    run_extraction(str(tiny_model), fasta, plain, options(include=("per_tok",)))
    run_extraction(str(tiny_model), fasta, chunked, options(include=("per_tok",), long="chunk"))
    for label in SEQUENCES:
        assert torch.equal(load_pt(plain / f"{label}.pt")["representations"][2],
                           load_pt(chunked / f"{label}.pt")["representations"][2])


def test_chunk_covers_long_sequences_and_averages_overlaps(tiny_model, tmp_path, reference):
    sequence = SEQUENCES["long"]  # 66 residues, windows of 30 overlapping by 10
    fasta = write_fasta_text(tmp_path / "long.fasta", f">p\n{sequence}\n")
    run_extraction(str(tiny_model), fasta, tmp_path / "o", options(
        include=("per_tok",), long="chunk", truncation_seq_length=30, chunk_overlap=10))
    got = load_pt(tmp_path / "o" / "p.pt")["representations"][2]
    assert got.shape == (66, 32)
    windows = [reference(sequence[s:s + 30], [2])["representations"][2][0, 1:31] for s in (0, 20, 36)]
    assert torch.allclose(got[:20], windows[0][:20], atol=TOLERANCE)
    assert torch.allclose(got[20:30], (windows[0][20:30] + windows[1][:10]) / 2, atol=TOLERANCE)
    assert torch.allclose(got[50:], windows[2][14:], atol=TOLERANCE)


def test_truncate_is_fair_esm_behaviour_and_warns_with_the_count(tiny_model, fasta, tmp_path,
                                                                  reference):
    with pytest.warns(UserWarning, match="^2 sequence"):
        summary = run_extraction(str(tiny_model), fasta, tmp_path / "o", options(
            include=("mean",), truncation_seq_length=12))
    assert summary.truncated == 2
    mean = load_pt(tmp_path / "o" / "mid.pt")["mean_representations"][2]
    expected = reference(SEQUENCES["mid"][:12], [2])["representations"][2][0, 1:13].mean(0)
    assert torch.allclose(mean, expected, atol=TOLERANCE)


def test_rerun_skips_finished_sequences_and_overwrite_redoes_them(tiny_model, fasta, tmp_path):
    out = tmp_path / "o"
    first = run_extraction(str(tiny_model), fasta, out, options(include=("mean",), pool=("mean",)))
    assert (first.computed, first.skipped) == (4, 0)
    (out / "mid.pt").unlink()
    second = run_extraction(str(tiny_model), fasta, out, options(include=("mean",), pool=("mean",)))
    assert (second.computed, second.skipped) == (1, 3)
    third = run_extraction(str(tiny_model), fasta, out, options(include=("mean",), pool=("mean",),
                                                               overwrite=True))
    assert third.computed == 4
    assert not any(path.name.startswith(".") for path in out.iterdir())


def test_shards_together_equal_one_run(tiny_model, fasta, tmp_path):
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    run_extraction(str(tiny_model), fasta, whole, options(pool=("mean", "maxPool")))
    first = run_extraction(str(tiny_model), fasta, sharded, options(pool=("mean", "maxPool"),
                                                                   shard=(1, 2)))
    assert first.computed == 2 and first.pooled_files == []
    assert not (sharded / "embed_layer_2_mean.pkl").exists()
    second = run_extraction(str(tiny_model), fasta, sharded, options(pool=("mean", "maxPool"),
                                                                    shard=(2, 2)))
    assert second.computed == 2 and len(second.pooled_files) == 2
    for method in ("mean", "maxPool"):
        a = load_compressed(whole / f"embed_layer_2_{method}.pkl")
        b = load_compressed(sharded / f"embed_layer_2_{method}.pkl")
        assert list(a) == list(b)
        assert all(np.allclose(a[label], b[label], atol=1e-6) for label in a)
    assert sorted(path.name for path in sharded.iterdir()) == sorted(
        path.name for path in whole.iterdir())


def test_shard_syntax_is_checked():
    assert extract.parse_shard("2/5") == (2, 5)
    for bad in ("0/2", "3/2", "a/b", "1"):
        with pytest.raises(UserError, match="K/N"):
            extract.parse_shard(bad)


def test_unsafe_labels_never_escape_the_output_dir(tiny_model, tmp_path):
    labels = ["../../escape", "/etc/passwd", "sp|P1|A B", ".hidden", "x" * 300, "ok_1:A2G"]
    body = "".join(f">{label}\nMKTAYIAK\n" for label in labels)
    fasta = write_fasta_text(tmp_path / "in.fasta", body)
    out = tmp_path / "deep" / "out"
    run_extraction(str(tiny_model), fasta, out, options(include=("mean",)))
    written = sorted(path for path in tmp_path.rglob("*.pt"))
    assert all(path.parent == out for path in written) and len(written) == len(labels)
    assert (out / "ok_1:A2G.pt").is_file()
    rows = (out / "labels.tsv").read_text().splitlines()
    mapping = dict(row.split("\t") for row in rows[1:])
    assert list(mapping) == labels
    for label, name in mapping.items():
        assert load_pt(out / name)["label"] == label
        assert len(name) < 200 and "/" not in name and not name.startswith(".")


def test_label_file_stems_are_distinct_for_distinct_labels():
    assert extract.label_file_stem("a/b") != extract.label_file_stem("a|b")
    assert extract.label_file_stem("IF1_ECOLI_M1N") == "IF1_ECOLI_M1N"


def test_duplicate_labels_are_an_error_unless_dedupe_and_identical(tiny_model, tmp_path):
    same = write_fasta_text(tmp_path / "same.fasta", ">a\nMKT\n>b\nMKL\n>a\nMKT\n")
    with pytest.raises(UserError, match="duplicate label.*'a'.*--dedupe"):
        run_extraction(str(tiny_model), same, tmp_path / "o1", options(include=("mean",)))
    summary = run_extraction(str(tiny_model), same, tmp_path / "o2",
                             options(include=("mean",), dedupe=True))
    assert summary.computed == 2
    different = write_fasta_text(tmp_path / "diff.fasta", ">a\nMKT\n>a\nMKL\n")
    with pytest.raises(UserError, match="different sequences"):
        run_extraction(str(tiny_model), different, tmp_path / "o3",
                       options(include=("mean",), dedupe=True))
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o3").exists()


BAD_INPUTS = {
    "missing": (None, [], "not found"),
    "empty": ("", [], "empty file"),
    "text_before_header": ("MKT\n>a\nMKT\n", [], "before the first"),
    "empty_sequence": (">a\n>b\nMKT\n", [], "'>a'.*empty sequence"),
    "stop_codon": (">a\nMKT*\n", [], r"'>a'.*'\*'"),
    "gap": (">a\nMK-T\n", [], "'>a'.*'-'"),
    "digits": (">a\nMK1T\n", [], "'>a'.*'1'"),
    "layer_out_of_range": (">a\nMKT\n", ["--repr_layers", "5"], "layers 0..2"),
    "negative_layer_out_of_range": (">a\nMKT\n", ["--repr_layers", "-4"], "layers 0..2"),
    "unknown_pool_method": (">a\nMKT\n", ["--pool", "median"], "unknown compression method"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_one_line_and_leaves_no_files(case, tiny_model, tmp_path, capsys):
    text, flags, message = BAD_INPUTS[case]
    fasta = tmp_path / "in.fasta"
    if text is not None:
        fasta.write_text(text)
    out = tmp_path / "out"
    code = run_cli(cli_main, [str(tiny_model), str(fasta), str(out), "--include", "mean", *flags])
    error = capsys.readouterr().err
    assert code == 2
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert pytest.importorskip("re").search(message, error), error
    assert not out.exists()


def test_unknown_model_gets_one_line(tmp_path, capsys):
    fasta = write_fasta_text(tmp_path / "in.fasta", ">a\nMKT\n")
    code = run_cli(cli_main, ["esm9_huge", str(fasta), str(tmp_path / "out"), "--include", "mean"])
    error = capsys.readouterr().err
    assert code == 2 and "unknown model 'esm9_huge'" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_lower_case_is_upper_cased(tiny_model, tmp_path):
    lower = write_fasta_text(tmp_path / "l.fasta", ">a\nmktayiak\n")
    upper = write_fasta_text(tmp_path / "u.fasta", ">a\nMKTAYIAK\n")
    run_extraction(str(tiny_model), lower, tmp_path / "l", options(include=("mean",)))
    run_extraction(str(tiny_model), upper, tmp_path / "u", options(include=("mean",)))
    assert torch.equal(load_pt(tmp_path / "l" / "a.pt")["mean_representations"][2],
                       load_pt(tmp_path / "u" / "a.pt")["mean_representations"][2])


def test_onehot_featuriser(fasta, tmp_path):
    run_extraction("onehot", fasta, tmp_path / "o", options(include=("per_tok", "mean"),
                                                            pool=("maxPool",)))
    for label, sequence in SEQUENCES.items():
        result = load_pt(tmp_path / "o" / f"{label}.pt")
        expected = torch.from_numpy(onehot_encode(sequence))
        assert torch.equal(result["representations"][0], expected)
        assert torch.allclose(result["mean_representations"][0], expected.mean(0))
    pooled = load_compressed(tmp_path / "o" / "embed_layer_0_maxPool.pkl")
    assert pooled["tiny_one"].tolist() == onehot_encode("MK").max(0).tolist()
    with pytest.raises(UserError, match="no BOS"):
        run_extraction("onehot", fasta, tmp_path / "b", options(include=("bos",)))


def test_cuda_out_of_memory_splits_the_batch(tiny_model, monkeypatch):
    loaded = load_model(str(tiny_model))
    featuriser = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32)
    real_embed = featuriser.embed
    sizes = []

    def embed(sequences, layers, contacts):
        sizes.append(len(sequences))
        if len(sequences) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_embed(sequences, layers, contacts)

    monkeypatch.setattr(featuriser, "embed", embed)
    pieces = [extract.Piece(i, 0, s) for i, s in enumerate(["MKT", "MKLV", "MKTAY"])]
    results = extract.embed_with_retry(featuriser, pieces, [2], False)
    assert sizes == [3, 1, 2, 1, 1]
    expected = real_embed(["MKLV"], [2], False)[0].representations[2]
    assert torch.allclose(results[1].representations[2], expected, atol=TOLERANCE)


def test_token_batches_respect_the_budget_and_sort_by_length():
    pieces = [extract.Piece(i, 0, "A" * n) for i, n in enumerate([50, 10, 30, 10, 200])]
    batches = extract.token_batches(pieces, 100, 2)
    assert [[p.record for p in batch] for batch in batches] == [[1, 3, 2], [0], [4]]
    assert all(max(len(p.sequence) + 2 for p in b) * len(b) <= 100 for b in batches[:-1])


def test_half_precision_path_runs_and_writes_float32(tiny_model, fasta, tmp_path):
    run_extraction(str(tiny_model), fasta, tmp_path / "fp32", options(include=("mean",)))
    with pytest.warns(UserWarning, match="slower"):
        run_extraction(str(tiny_model), fasta, tmp_path / "bf16", options(include=("mean",),
                                                                          dtype="bfloat16"))
    for label in SEQUENCES:
        low = load_pt(tmp_path / "bf16" / f"{label}.pt")["mean_representations"][2]
        full = load_pt(tmp_path / "fp32" / f"{label}.pt")["mean_representations"][2]
        assert low.dtype == torch.float32
        assert torch.allclose(low, full, atol=0.1, rtol=0.05)
        assert not torch.equal(low, full)


@pytest.mark.parametrize("model, budget", [("tiny", 4096), ("onehot", 4096), ("unirep_64", 32768)])
def test_the_default_token_budget_is_the_backends(model, budget, tiny_model, fasta, tmp_path, monkeypatch):
    """Without --toks_per_batch a batch holds the backend's budget (UniRep's recurrent steps want
    wide batches); an explicit budget wins."""
    seen = []
    batches = extract.token_batches
    monkeypatch.setattr(extract, "token_batches", lambda pieces, size, specials: seen.append(size)
                        or batches(pieces, size, specials))
    location = str(tiny_model) if model == "tiny" else model
    run_extraction(location, fasta, tmp_path / "default", options(pool=("mean",)))
    run_extraction(location, fasta, tmp_path / "explicit", options(pool=("mean",), toks_per_batch=100))
    assert seen == [budget, 100]
