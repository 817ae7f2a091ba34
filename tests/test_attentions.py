"""Attention maps: equal to fair-esm's and transformers' own, stored as asked, refused where absent."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from plmtransfer.backends.base import AttentionFeaturiser
from plmtransfer.backends.esm import featuriser as esm
from plmtransfer.backends.esm.featuriser import LoadedModel, load_model
from plmtransfer.backends.hf.featuriser import HfEsmFeaturiser, convert_esm2_checkpoint
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.extract import main as cli_main
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.errors import UserError

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



# ----------------------------------------------------------------------------- the contact-map figure


@pytest.fixture
def figures(monkeypatch):
    """Every figure ``maps`` saves, drawn, by file stem name (the files are still written)."""
    from plmtransfer.analysis import maps

    saved = {}
    original = maps.save_figure

    def keep(figure, stem):
        figure.canvas.draw()
        saved[Path(stem).name] = figure
        return original(figure, stem)

    monkeypatch.setattr(maps, "save_figure", keep)
    return saved


def main_axes(figure):
    """The axes holding the map (not the colour bar, not the secondary-structure track)."""
    return [axis for axis in figure.axes if axis.images and axis.get_label() != "<colorbar>"]


def test_contact_map_draws_the_input_with_residue_numbers(figures, tmp_path):
    from plmtransfer.analysis import maps

    rng = np.random.default_rng(0)
    contacts = rng.uniform(0, 1, (30, 30))
    truth = np.zeros((30, 30), dtype=bool)
    truth[20, 3] = truth[3, 20] = truth[12, 9] = True  # 12-9 is closer than 6 in sequence: not drawn
    structure = "CCHHHHHHCCEEEECC" + "C" * 14
    written = maps.contact_map_plot(contacts, tmp_path / "map", "PROT_HUMAN", "esm2_t6_8M_UR50D",
                                     secondary_structure=structure, true_contacts=truth, true_label="truth")
    assert written == [tmp_path / "map.png", tmp_path / "map.pdf"] and all(path.stat().st_size for path in written)
    figure = figures["map"]
    (axis,) = main_axes(figure)
    np.testing.assert_array_equal(axis.images[0].get_array(), contacts)
    assert axis.images[0].get_extent() == [0.5, 30.5, 30.5, 0.5]  # residue i at coordinate i, 1 top left
    assert axis.get_aspect() == 1.0
    for ticks, limits in ((axis.get_xticks(), axis.get_xlim()), (axis.get_yticks(), sorted(axis.get_ylim()))):
        shown = [tick for tick in ticks if limits[0] <= tick <= limits[1]]
        assert shown and all(float(tick).is_integer() and 1 <= tick <= 30 for tick in shown)
    labels = [text.get_text() for text in axis.get_xticklabels() if text.get_text()]
    assert all(label.isdigit() for label in labels)
    assert "PROT_HUMAN" in figure._suptitle.get_text() and "esm2_t6_8M_UR50D" in figure._suptitle.get_text()
    assert [a.get_ylabel() for a in figure.axes if a.get_label() == "<colorbar>"] == ["predicted contact probability"]
    np.testing.assert_array_equal(axis.collections[0].get_offsets(), [[4, 21]])  # (column j, row i), 1-based
    (track,) = axis.child_axes  # the secondary structure: one bar per run, residue r spans r ± 0.5
    runs = [collection.get_paths()[0].get_extents() for collection in track.collections]
    assert [(run.x0, run.x1) for run in runs] == [(0.5, 2.5), (2.5, 8.5), (8.5, 10.5), (10.5, 14.5), (14.5, 30.5)]


def test_attention_heads_are_chosen_by_layer_and_head():
    from plmtransfer.analysis import maps

    attentions = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    chosen = maps.attention_heads(attentions, [5, 6], ["6:1", "5:0-1", "6:mean"])
    assert list(chosen) == ["layer 6, head 1", "layer 5, head 0", "layer 5, head 1", "layer 6, mean of heads"]
    np.testing.assert_array_equal(chosen["layer 6, head 1"], attentions[1, 1])
    np.testing.assert_array_equal(chosen["layer 6, mean of heads"], attentions[1].mean(0))
    assert len(maps.attention_heads(attentions, [5, 6], ["5:all"])) == 3
    for specs, message in ((["7:0"], r"layer\(s\) 5, 6"), (["6:3"], "heads 0..2"), (["six"], "LAYER:HEAD"),
                           (["5:all", "6:0-6"], "at most 16")):
        with pytest.raises(UserError, match=message):
            maps.attention_heads(np.zeros((2, 10, 4, 4)) if "16" in message else attentions, [5, 6], specs)
    with pytest.raises(UserError, match="use 5:mean"):
        maps.attention_heads(attentions.mean(1), [5, 6], ["5:0"])


def test_plot_contacts_from_an_extract_output(tiny_model, fasta, tmp_path, figures):
    from plmtransfer.cli.plot import main as plot_main

    run_extraction(str(tiny_model), fasta, tmp_path / "maps",
                   ExtractOptions(include=("contacts", "attentions"), repr_layers=(1, 2), quiet=True))
    data = torch.load(tmp_path / "maps" / "s1.pt", weights_only=True)
    distances = np.full((8, 8), 20.0)
    distances[7, 0] = distances[0, 7] = 5.0
    np.save(tmp_path / "distances.npy", distances)
    (tmp_path / "ss.fasta").write_text(">s0 SET=train\n" + "C" * 22 + "\n>s1 SET=test\nCHHHHEEC\n")
    code = run_cli(plot_main, ["contacts", "--input", str(tmp_path / "maps" / "s1.pt"), "--model", "tiny",
                               "--secondary-structure", str(tmp_path / "ss.fasta"), "--distance-map",
                               str(tmp_path / "distances.npy"), "--attention", "2:0-1", "1:mean",
                               "-o", str(tmp_path / "fig")])
    assert code == 0
    assert sorted(path.name for path in tmp_path.glob("fig*")) == [
        "fig.pdf", "fig.png", "fig_attention.pdf", "fig_attention.png"]
    (axis,) = main_axes(figures["fig"])
    np.testing.assert_array_equal(axis.images[0].get_array(), data["contacts"].numpy())
    np.testing.assert_array_equal(axis.collections[0].get_offsets(), [[1, 8]])
    panels = main_axes(figures["fig_attention"])
    assert [panel.get_title().splitlines()[0] for panel in panels] == [
        "layer 2, head 0", "layer 2, head 1", "layer 1, mean of heads"]
    head = data["attentions"][1, 1].float().numpy()
    scale = np.percentile(head, 99)
    np.testing.assert_allclose(panels[1].images[0].get_array(), head / scale, rtol=1e-6)


@pytest.mark.parametrize("flags, message", [
    (["--secondary-structure", "HHHX"], "letters 'X'"),
    (["--secondary-structure", "HHH"], "3 letters for a map of 8 residues"),
    (["--true-contacts", "{bad_shape}"], "shape (3, 3), expected (8, 8)"),
    (["--true-contacts", "{distances}"], "values other than 0 and 1"),
    (["--attention", "3:0"], "layer(s) 1, 2"),
], ids=["letters", "length", "shape", "not-binary", "layer"])
def test_plot_contacts_bad_input_is_one_line(flags, message, tiny_model, fasta, tmp_path, capsys):
    from plmtransfer.cli.plot import main as plot_main

    run_extraction(str(tiny_model), fasta, tmp_path / "maps",
                   ExtractOptions(include=("contacts", "attentions"), repr_layers=(1, 2), quiet=True))
    np.save(tmp_path / "bad_shape.npy", np.zeros((3, 3)))
    np.save(tmp_path / "distances.npy", np.full((8, 8), 7.5))
    flags = [flag.format(bad_shape=tmp_path / "bad_shape.npy", distances=tmp_path / "distances.npy")
             for flag in flags]
    code = run_cli(plot_main, ["contacts", "--input", str(tmp_path / "maps" / "s1.pt"), "--model", "tiny",
                               *flags, "-o", str(tmp_path / "fig")])
    error = capsys.readouterr().err
    assert code == 2 and len(error.strip().splitlines()) == 1 and message in error, error
    assert not list(tmp_path.glob("fig*"))


def test_half_precision_maps_are_float32_softmaxes_close_to_full_precision(loaded):
    full = esm.EsmFeaturiser(loaded, torch.device("cpu"), torch.float32).embed(
        SEQUENCES, [2], False, attention_layers=[2])
    half = esm.EsmFeaturiser(load_model(str(loaded.checkpoint)), torch.device("cpu"), torch.bfloat16).embed(
        SEQUENCES, [2], False, attention_layers=[2])
    for before, after in zip(full, half, strict=True):
        assert after.attentions[2].dtype == torch.float32
        torch.testing.assert_close(after.attentions[2].sum(-1), before.attentions[2].sum(-1), rtol=0, atol=2e-2)
        assert_maps_equal(after.attentions[2], before.attentions[2], 5e-2)
