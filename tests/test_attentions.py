"""Attention maps: equal to fair-esm's and transformers' own, stored as asked, refused where absent."""

from __future__ import annotations

import argparse

import pytest
import torch

from plmtransfer.backends import esm
from plmtransfer.backends.base import AttentionFeaturiser
from plmtransfer.backends.esm import LoadedModel, load_model
from plmtransfer.backends.hf import HfEsmFeaturiser, convert_esm2_checkpoint
from plmtransfer.cli import run_cli
from plmtransfer.errors import UserError
from plmtransfer.extract import ExtractOptions, run_extraction
from scripts.extract import main as cli_main

TOLERANCE = 1e-5  # float32 maps
HALF_TOLERANCE = 1e-3  # after the float16 cast of the stored maps (values in [0, 1])
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MKTAYIAK", "ACDEFGHIKLMNPQRSTVWYXBZUO", "GS"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def loaded(tiny_model) -> LoadedModel:
    return load_model(str(tiny_model))


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text("".join(f">s{i}\n{sequence}\n" for i, sequence in enumerate(SEQUENCES)))
    return path


def fair_esm_attentions(loaded: LoadedModel, sequences) -> torch.Tensor:
    """fair-esm's ``forward(need_head_weights=True)["attentions"]`` on a padded batch: B x layers x H x T x T."""
    _, _, tokens = loaded.alphabet.get_batch_converter()([(str(i), s) for i, s in enumerate(sequences)])
    with torch.no_grad():
        return loaded.model(tokens, need_head_weights=True)["attentions"]


def residues(maps: torch.Tensor, length: int) -> torch.Tensor:
    """The rows and columns of the residues (BOS at 0, EOS after them)."""
    return maps[..., 1:length + 1, 1:length + 1]


def assert_maps_equal(got, expected, tolerance=TOLERANCE):
    difference = (got.float() - expected.float()).abs().max().item()
    assert got.shape == expected.shape and difference <= tolerance, (got.shape, expected.shape, difference)


@pytest.mark.parametrize("contacts", [False, True], ids=["fused", "with-contacts"])
def test_fair_esm_featuriser_maps_equal_need_head_weights(loaded, contacts):
    featuriser = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32)
    assert isinstance(featuriser, AttentionFeaturiser) and featuriser.attention_heads == 4
    expected = fair_esm_attentions(loaded, SEQUENCES)
    got = featuriser.embed(SEQUENCES, [1, 2], contacts, attention_layers=[1, 2])
    for i, (sequence, embedded) in enumerate(zip(SEQUENCES, got, strict=True)):
        assert sorted(embedded.attentions) == [1, 2]
        for layer in (1, 2):
            assert embedded.attentions[layer].dtype == torch.float32
            assert_maps_equal(embedded.attentions[layer], residues(expected[i, layer - 1], len(sequence)))


def test_only_the_asked_layers_compute_maps_and_representations_do_not_change(loaded):
    featuriser = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32)
    plain = featuriser.embed(SEQUENCES, [1, 2], False)
    with_maps = featuriser.embed(SEQUENCES, [1, 2], False, attention_layers=[2])
    assert all(embedded.attentions is None for embedded in plain)
    for before, after in zip(plain, with_maps, strict=True):
        assert sorted(after.attentions) == [2]
        for layer in (1, 2):
            assert_maps_equal(after.representations[layer], before.representations[layer])


def test_esm1b_maps_come_from_fair_esms_forward():
    from esm.data import Alphabet
    from esm.model.esm1 import ProteinBertModel

    torch.manual_seed(0)
    args = argparse.Namespace(arch="roberta_large", layers=2, embed_dim=32, ffn_embed_dim=64,
                              attention_heads=4, max_positions=1024, emb_layer_norm_before=True,
                              token_dropout=False, final_bias=True, dropout=0.0)
    alphabet = Alphabet.from_architecture("ESM-1b")
    model = ProteinBertModel(args, alphabet).eval()
    featuriser = esm.EsmFeaturiser(LoadedModel(model, alphabet, "esm1b_tiny", None, 2, 32, False),
                                   torch.device("cpu"), torch.float32)
    got = featuriser.embed(SEQUENCES[:2], [2], False, attention_layers=[2])
    expected = fair_esm_attentions(LoadedModel(model, alphabet, "", None, 2, 32, False), SEQUENCES[:2])
    for i, sequence in enumerate(SEQUENCES[:2]):
        assert_maps_equal(got[i].attentions[2], residues(expected[i, 1], len(sequence)))


def test_hf_maps_equal_output_attentions(tiny_model, tmp_path):
    featuriser = HfEsmFeaturiser(convert_esm2_checkpoint(tiny_model, tmp_path / "hf"), None,
                                 torch.device("cpu"), torch.float32)
    assert isinstance(featuriser, AttentionFeaturiser) and featuriser.attention_heads == 4
    tokens, mask = featuriser.tokenise(SEQUENCES)
    with torch.no_grad(), featuriser.eager_attention():
        expected = featuriser.model(input_ids=tokens, attention_mask=mask, output_attentions=True).attentions
    got = featuriser.embed(SEQUENCES, [0, 1, 2], False, attention_layers=[1, 2])
    for i, sequence in enumerate(SEQUENCES):
        for layer in (1, 2):
            assert_maps_equal(got[i].attentions[layer], residues(expected[layer - 1][i], len(sequence)))
    assert featuriser.model.config._attn_implementation == "sdpa"  # restored after the maps


def test_extract_writes_float16_maps_of_the_asked_layers(loaded, tiny_model, fasta, tmp_path):
    expected = fair_esm_attentions(loaded, SEQUENCES)
    run_extraction(str(tiny_model), fasta, tmp_path / "all",
                   ExtractOptions(include=("mean", "attentions"), repr_layers=(0, -1), quiet=True))
    run_extraction(str(tiny_model), fasta, tmp_path / "mean",
                   ExtractOptions(include=("attentions",), repr_layers=(1, 2), attention_heads="mean",
                                  quiet=True))
    for i, sequence in enumerate(SEQUENCES):
        every = torch.load(tmp_path / "all" / f"s{i}.pt", weights_only=True)
        assert every["attention_layers"] == [2]  # layer 0 (the embedding) has no attention
        assert every["attentions"].dtype == torch.float16
        assert every["attentions"].shape == (1, 4, len(sequence), len(sequence))
        assert_maps_equal(every["attentions"][0], residues(expected[i, 1], len(sequence)), HALF_TOLERANCE)
        averaged = torch.load(tmp_path / "mean" / f"s{i}.pt", weights_only=True)
        assert averaged["attention_layers"] == [1, 2]
        assert averaged["attentions"].shape == (2, len(sequence), len(sequence))
        assert_maps_equal(averaged["attentions"], residues(expected[i].mean(1), len(sequence)), HALF_TOLERANCE)


def test_no_maps_unless_asked(tiny_model, fasta, tmp_path):
    run_extraction(str(tiny_model), fasta, tmp_path / "o", ExtractOptions(include=("mean", "contacts"),
                                                                          quiet=True))
    result = torch.load(tmp_path / "o" / "s0.pt", weights_only=True)
    assert "attentions" not in result and "attention_layers" not in result


@pytest.mark.parametrize("model", ["onehot", "unirep_64"])
def test_models_without_attention_get_one_line_naming_them(model, fasta, tmp_path, capsys):
    code = run_cli(cli_main, [model, str(fasta), str(tmp_path / "out"), "--include", "attentions",
                              "--repr_layers", "0" if model == "onehot" else "1"])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert f"model {model} gives no attention maps" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags, message", [
    (["--repr_layers", "0"], "layer 0 is the embedding"),
    (["--long", "chunk"], "--include attentions cannot be combined with --long chunk"),
], ids=["layer-0-only", "chunk"])
def test_requests_that_cannot_work_get_one_line(flags, message, tiny_model, fasta, tmp_path, capsys):
    code = run_cli(cli_main, [str(tiny_model), str(fasta), str(tmp_path / "out"), "--include", "attentions",
                              *flags])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1 and message in error, error
    assert not (tmp_path / "out").exists()


def test_attention_heads_option_is_checked():
    with pytest.raises(UserError, match="--attention_heads max"):
        run_extraction("onehot", "unused.fasta", "unused", ExtractOptions(include=("attentions",),
                                                                          attention_heads="max"))

