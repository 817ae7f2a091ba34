"""Contact-map features (plmtransfer/embed/contacts.py) on hand-built maps, through the compression stage and
``extract --pool``; expected values are worked out by hand here or by plain loops, never by the code under test."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from plmtransfer.cli.compress import main as compress_main
from plmtransfer.embed import contacts
from plmtransfer.embed.compress import compress_directory
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.embed.methods import METHODS, CompressOptions, compress_batch, compress_protein
from plmtransfer.embed.request import check_options
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed

CONTACT_METHODS = ["contact_quantiles", "contact_histogram", "contact_order", "contact_bands", "contact_summary"]

# A 30-residue map: (i, j, probability), symmetric, every other pair 0.
SPARSE_LENGTH = 30
SPARSE_PAIRS = [
    (0, 6, 0.9),    # separation 6: short
    (2, 13, 0.8),   # 11: short
    (3, 15, 0.7),   # 12: medium
    (5, 28, 0.6),   # 23: medium
    (1, 25, 0.95),  # 24: long
    (4, 29, 1.0),   # 25: long
    (10, 14, 0.9),  # 4: nearer than 6, never counted
    (7, 20, 0.5),   # 13: exactly the threshold, not above it
    (8, 27, 0.3),   # 19: below the threshold
]


def sparse_map() -> np.ndarray:
    """The 30 x 30 map of SPARSE_PAIRS."""
    probabilities = np.zeros((SPARSE_LENGTH, SPARSE_LENGTH), dtype=np.float32)
    for i, j, p in SPARSE_PAIRS:
        probabilities[i, j] = probabilities[j, i] = p
    return probabilities


def test_contact_order_and_bands_of_a_hand_built_map():
    # predicted contacts (p > 0.5, separation >= 6): separations 6, 11, 12, 23, 24, 25
    count, total = 6, 6 + 11 + 12 + 23 + 24 + 25  # 101
    out = compress_protein(np.zeros((SPARSE_LENGTH, 4)), None, ["contact_order", "contact_bands"],
                           extras={"contacts": sparse_map()})
    np.testing.assert_allclose(out["contact_order"], [total / (SPARSE_LENGTH * count), total / count], rtol=1e-6)
    np.testing.assert_allclose(out["contact_bands"], [2 / 30, 2 / 30, 2 / 30], rtol=1e-6)


def test_the_threshold_is_an_option_and_strict():
    # at 0.25 the pairs (7, 20) at 0.5 (separation 13, medium) and (8, 27) at 0.3 (19, medium) count too
    out = compress_protein(np.zeros((SPARSE_LENGTH, 4)), None, ["contact_order", "contact_bands"],
                           CompressOptions(contact_threshold=0.25), extras={"contacts": sparse_map()})
    total = 101 + 13 + 19
    np.testing.assert_allclose(out["contact_order"], [total / (30 * 8), total / 8], rtol=1e-6)
    np.testing.assert_allclose(out["contact_bands"], [2 / 30, 4 / 30, 2 / 30], rtol=1e-6)
    # at 0.95 only (4, 29) at 1.0 is above it: (1, 25) at exactly 0.95 is not
    out = compress_protein(np.zeros((SPARSE_LENGTH, 4)), None, ["contact_order"],
                           CompressOptions(contact_threshold=0.95), extras={"contacts": sparse_map()})
    np.testing.assert_allclose(out["contact_order"], [25 / 30, 25], rtol=1e-6)


def test_contacts_per_residue_are_row_sums_beyond_separation_five():
    expected = np.zeros(SPARSE_LENGTH)
    for residue, value in {0: 0.9, 6: 0.9, 2: 0.8, 13: 0.8, 3: 0.7, 15: 0.7, 5: 0.6, 28: 0.6, 1: 0.95, 25: 0.95,
                           4: 1.0, 29: 1.0, 7: 0.5, 20: 0.5, 8: 0.3, 27: 0.3}.items():
        expected[residue] = value  # residues 10 and 14 keep 0: their pair is 4 apart
    np.testing.assert_allclose(contacts.contacts_per_residue(sparse_map()[None])[0], expected, rtol=1e-6)


def test_quantiles_and_histogram_of_an_all_ones_map():
    # L = 12, every pair p = 1: residue i has max(0, i - 5) + max(0, 6 - i) partners at separation >= 6,
    # i = 0..11 -> 6 5 4 3 2 1 1 2 3 4 5 6; sorted s = 1 1 2 2 3 3 4 4 5 5 6 6.
    ones = np.ones((12, 12), dtype=np.float32)
    out = compress_protein(np.zeros((12, 4)), None, CONTACT_METHODS, extras={"contacts": ones})
    # level (q + 0.5) / 10 sits at h = 11 * level between s[floor h] and s[floor h + 1]:
    # 0.55 -> 1, 1.65 -> 1.65, 2.75 -> 2, 3.85 -> 2.85, 4.95 -> 3, 6.05 -> 4, 7.15 -> 4.15, 8.25 -> 5, 9.35 -> 5.35,
    # 10.45 -> 6
    quantiles = [1, 1.65, 2, 2.85, 3, 4, 4.15, 5, 5.35, 6]
    np.testing.assert_allclose(out["contact_quantiles"], quantiles, rtol=1e-6)
    # two residues in each of [1,2) .. [6,7), none below 1 or from 7 on
    histogram = [0, 2 / 12, 2 / 12, 2 / 12, 2 / 12, 2 / 12, 2 / 12, 0, 0]
    np.testing.assert_allclose(out["contact_histogram"], histogram, rtol=1e-6)
    # 21 pairs at separation >= 6: 6 at 6, 5 at 7, 4 at 8, 3 at 9, 2 at 10, 1 at 11 -> sum 161, all short range
    np.testing.assert_allclose(out["contact_order"], [161 / (21 * 12), 161 / 21], rtol=1e-6)
    np.testing.assert_allclose(out["contact_bands"], [21 / 12, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(out["contact_summary"], [*quantiles, *histogram, 161 / (21 * 12), 161 / 21, 21 / 12,
                                                        0, 0], rtol=1e-6)


def test_no_predicted_contact_gives_zero_order_and_a_short_protein_works():
    out = compress_protein(np.zeros((5, 4)), None, CONTACT_METHODS, extras={"contacts": np.full((5, 5), 0.9)})
    np.testing.assert_array_equal(out["contact_order"], [0, 0])
    np.testing.assert_array_equal(out["contact_bands"], [0, 0, 0])
    np.testing.assert_array_equal(out["contact_histogram"], [1, 0, 0, 0, 0, 0, 0, 0, 0])


def reference_features(probabilities: np.ndarray, threshold: float = 0.5) -> dict[str, list[float]]:
    """contact_order and contact_bands by plain loops over the pairs (an independent implementation)."""
    length = len(probabilities)
    separations = [j - i for i in range(length) for j in range(i + 6, length) if probabilities[i][j] > threshold]
    absolute = sum(separations) / len(separations) if separations else 0.0
    bands = [sum(6 <= s <= 11 for s in separations), sum(12 <= s <= 23 for s in separations),
             sum(s >= 24 for s in separations)]
    return {"contact_order": [absolute / length, absolute], "contact_bands": [band / length for band in bands]}


def test_a_batch_of_random_maps_equals_the_loops():
    rng = np.random.default_rng(0)
    maps = rng.uniform(size=(3, 40, 40))
    maps = (maps + maps.transpose(0, 2, 1)) / 2
    out = compress_batch(np.zeros((3, 40, 2)), None, ["contact_order", "contact_bands"], extras={"contacts": maps})
    for index in range(3):
        expected = reference_features(maps[index])
        np.testing.assert_allclose(out["contact_order"][index], expected["contact_order"], rtol=1e-5)
        np.testing.assert_allclose(out["contact_bands"][index], expected["contact_bands"], rtol=1e-6)


def test_every_contact_method_is_registered_in_one_family_reading_only_the_map():
    for name in CONTACT_METHODS:
        assert METHODS[name].family == "contacts"
        assert METHODS[name].needs_extras == ("contacts",) and not METHODS[name].needs_residues


def test_without_a_contact_map_the_error_says_to_re_extract():
    with pytest.raises(UserError, match="re-extract with --include contacts"):
        compress_protein(np.zeros((8, 4)), None, ["contact_order"])


@pytest.mark.parametrize("bad", [np.zeros((6, 5)), np.full((6, 6), 1.5), np.full((6, 6), np.nan)])
def test_a_map_that_is_not_square_probabilities_is_an_error(bad):
    with pytest.raises(UserError, match="contact map"):
        compress_protein(np.zeros((6, 4)), None, ["contact_bands"], extras={"contacts": bad})


# ----------------------------------------------------------------------------- the compression stage


def write_pt(path, label, contact_map=None, residues=None, layer=6):
    data = {"label": label}
    if residues is not None:
        data["representations"] = {layer: torch.as_tensor(residues, dtype=torch.float32)}
    if contact_map is not None:
        data["contacts"] = torch.as_tensor(contact_map, dtype=torch.float32)
    torch.save(data, path / f"{label}.pt")


def test_the_compression_stage_reads_contacts_from_per_sequence_files(tmp_path):
    embed, out = tmp_path / "embed", tmp_path / "out"
    embed.mkdir()
    residues = np.arange(30 * 3, dtype=np.float32).reshape(30, 3)
    write_pt(embed, "sparse", sparse_map(), residues)
    write_pt(embed, "ones", np.ones((12, 12)), np.ones((12, 3)))
    write_pt(embed, "ones_too", np.ones((12, 12)), np.zeros((12, 3)))  # same length: one batch with "ones"
    written = compress_directory(embed, out, ["contact_order", "contact_bands", "mean"], layer=6, jobs=1, quiet=True)
    assert sorted(path.name for path in written.values()) == [
        "embed_layer_6_contact_bands.pkl", "embed_layer_6_contact_order.pkl", "embed_layer_6_mean.pkl"]
    order, bands = load_compressed(written["contact_order"]), load_compressed(written["contact_bands"])
    np.testing.assert_allclose(order["sparse"], [101 / 180, 101 / 6], rtol=1e-6)
    np.testing.assert_allclose(bands["sparse"], [2 / 30, 2 / 30, 2 / 30], rtol=1e-6)
    for label in ("ones", "ones_too"):
        np.testing.assert_allclose(order[label], [161 / 252, 161 / 21], rtol=1e-6)
        np.testing.assert_allclose(bands[label], [21 / 12, 0, 0], rtol=1e-6)
    np.testing.assert_allclose(load_compressed(written["mean"])["sparse"], residues.mean(axis=0), rtol=1e-6)


def test_contact_methods_need_no_representations(tmp_path):
    embed = tmp_path / "embed"
    embed.mkdir()
    write_pt(embed, "a", sparse_map())
    write_pt(embed, "b", np.ones((12, 12)))
    written = compress_directory(embed, tmp_path / "out", ["contact_order"], layer=33, jobs=1, quiet=True)
    order = load_compressed(written["contact_order"])
    np.testing.assert_allclose(order["b"], [161 / 252, 161 / 21], rtol=1e-6)


def test_the_stage_without_contacts_says_to_re_extract(tmp_path):
    embed = tmp_path / "embed"
    embed.mkdir()
    write_pt(embed, "a", None, np.ones((12, 3)))
    with pytest.raises(UserError, match=r"a\.pt: no 'contacts' in the file: re-extract with --include contacts"):
        compress_directory(embed, tmp_path / "out", ["contact_bands"], layer=6, jobs=1, quiet=True)


def test_a_map_of_another_length_than_the_residues_is_an_error(tmp_path):
    embed = tmp_path / "embed"
    embed.mkdir()
    write_pt(embed, "a", np.ones((12, 12)), np.ones((11, 3)))
    with pytest.raises(UserError, match="'contacts' is 12 x 12 but 'representations'\\[6\\] has 11 residues"):
        compress_directory(embed, tmp_path / "out", ["mean", "contact_bands"], layer=6, jobs=1, quiet=True)


def test_the_cli_passes_the_threshold(tmp_path, capsys):
    embed, out = tmp_path / "embed", tmp_path / "out"
    embed.mkdir()
    write_pt(embed, "sparse", sparse_map())
    assert compress_main(["-e", str(embed), "-o", str(out), "-l", "6", "-c", "contact_order", "--jobs", "1",
                          "--contact-threshold", "0.25", "--quiet"]) == 0
    with open(out / "embed_layer_6_contact_order.pkl", "rb") as handle:
        np.testing.assert_allclose(pickle.load(handle)["sparse"], [133 / 240, 133 / 8], rtol=1e-6)


# ----------------------------------------------------------------------------- extract --pool


def test_extract_pools_contact_features_equal_to_the_saved_maps(tiny_model, tmp_path, one_torch_thread):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEV\n>b\nMKTAYIAKQRQISFVKSHFSRQ\n")
    out = tmp_path / "out"
    run_extraction(str(tiny_model), fasta, out, ExtractOptions(
        include=("contacts",), pool=("contact_order", "contact_bands"), repr_layers=(-1,), quiet=True))
    order, bands = load_compressed(out / "embed_layer_2_contact_order.pkl"), load_compressed(
        out / "embed_layer_2_contact_bands.pkl")
    for label in ("a", "b"):
        saved = torch.load(out / f"{label}.pt", weights_only=True)["contacts"].numpy()
        expected = reference_features(saved.astype(np.float64))
        np.testing.assert_allclose(order[label], expected["contact_order"], rtol=1e-5)
        np.testing.assert_allclose(bands[label], expected["contact_bands"], rtol=1e-6)


def test_contact_methods_cannot_pool_stitched_windows():
    with pytest.raises(UserError, match="--pool contact_\\* cannot be combined with --long chunk"):
        check_options(ExtractOptions(pool=("contact_bands",), long="chunk"))


def test_a_model_without_contact_weights_cannot_pool_contact_features(tmp_path):
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">a\nMKTAYIAKQR\n")
    with pytest.raises(UserError, match="model onehot has no contact-regression weights"):
        run_extraction("onehot", fasta, tmp_path / "out", ExtractOptions(pool=("contact_order",), quiet=True))
