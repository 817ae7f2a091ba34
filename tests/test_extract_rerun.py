"""Re-running scripts/extract.py asking for more computes what is missing (issue #34 item 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from plmtransfer.cli import compress as compress_script
from plmtransfer.cli.common import run_cli
from plmtransfer.cli.extract import main as extract_main
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.io import load_compressed

SEQUENCES = {"short": "MKTAYIAKQR", "mid": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEV", "two": "MK",
             "long": "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "in.fasta"
    path.write_text("".join(f">{label}\n{sequence}\n" for label, sequence in SEQUENCES.items()))
    return path


def options(**kwargs) -> ExtractOptions:
    return ExtractOptions(quiet=True, **kwargs)


def load_pt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_adding_per_tok_to_a_mean_run_computes_it_and_compress_then_works(tiny_model, fasta, tmp_path, capsys):
    out, fresh = tmp_path / "o", tmp_path / "fresh"
    first = run_extraction(str(tiny_model), fasta, out, options(include=("mean",)))
    assert (first.computed, first.skipped) == (4, 0)
    assert "representations" not in load_pt(out / "mid.pt")

    code = run_cli(extract_main, [str(tiny_model), str(fasta), str(out), "--include", "mean", "per_tok",
                                  "--repr_layers", "2"])
    assert code == 0
    assert "4 sequence(s) embedded (4 to complete existing files" in capsys.readouterr().err
    run_extraction(str(tiny_model), fasta, fresh, options(include=("mean", "per_tok")))
    for label in SEQUENCES:
        got, expected = load_pt(out / f"{label}.pt"), load_pt(fresh / f"{label}.pt")
        assert torch.allclose(got["representations"][2], expected["representations"][2], atol=1e-6)
        assert torch.allclose(got["mean_representations"][2], expected["mean_representations"][2], atol=1e-6)

    compressed = tmp_path / "c"
    assert run_cli(compress_script.main, ["-e", str(out), "-o", str(compressed), "-l", "2", "-c", "maxPool",
                                          "--quiet", "--jobs", "1"]) == 0
    vectors = load_compressed(compressed / "embed_layer_2_maxPool.pkl")
    for label in SEQUENCES:
        expected = load_pt(fresh / f"{label}.pt")["representations"][2].numpy().max(0)
        np.testing.assert_allclose(vectors[label], expected, atol=1e-6)

    again = run_extraction(str(tiny_model), fasta, out, options(include=("mean", "per_tok")))
    assert (again.computed, again.skipped, again.completed) == (0, 4, 0)


def test_only_the_files_lacking_something_are_computed_again(tiny_model, fasta, tmp_path):
    out = tmp_path / "o"
    run_extraction(str(tiny_model), fasta, out, options(include=("mean",)))
    half = tmp_path / "half.fasta"
    half.write_text(f">short\n{SEQUENCES['short']}\n>long\n{SEQUENCES['long']}\n")
    run_extraction(str(tiny_model), half, out, options(include=("mean", "per_tok")))  # an interrupted re-run
    (out / "two.pt").write_bytes(b"not a torch file")
    resumed = run_extraction(str(tiny_model), fasta, out, options(include=("mean", "per_tok")))
    assert (resumed.computed, resumed.skipped, resumed.completed) == (2, 2, 2)
    assert all("representations" in load_pt(out / f"{label}.pt") for label in SEQUENCES)


def test_a_new_layer_is_added_and_what_the_file_held_is_kept(tiny_model, fasta, tmp_path):
    out = tmp_path / "o"
    run_extraction(str(tiny_model), fasta, out, options(include=("per_tok",), repr_layers=(2,)))
    kept = load_pt(out / "mid.pt")["representations"][2]
    second = run_extraction(str(tiny_model), fasta, out, options(include=("mean",), repr_layers=(1, 2)))
    assert second.completed == 4
    data = load_pt(out / "mid.pt")
    assert sorted(data["mean_representations"]) == [1, 2]
    assert sorted(data["representations"]) == [2]
    assert torch.equal(data["representations"][2], kept)
    assert torch.allclose(data["mean_representations"][2], kept.mean(0), atol=1e-6)
    third = run_extraction(str(tiny_model), fasta, out, options(include=("mean",), repr_layers=(1,)))
    assert (third.computed, third.skipped) == (0, 4)


def test_overwrite_writes_exactly_what_is_asked(tiny_model, fasta, tmp_path):
    out = tmp_path / "o"
    run_extraction(str(tiny_model), fasta, out, options(include=("per_tok", "mean")))
    run_extraction(str(tiny_model), fasta, out, options(include=("mean",), overwrite=True))
    assert sorted(load_pt(out / "mid.pt")) == ["label", "mean_representations"]


def test_pooled_outputs_gain_new_methods_and_layers(tiny_model, fasta, tmp_path):
    out, fresh = tmp_path / "o", tmp_path / "fresh"
    run_extraction(str(tiny_model), fasta, out, options(pool=("mean",), repr_layers=(2,)))
    second = run_extraction(str(tiny_model), fasta, out, options(pool=("mean", "bos"), repr_layers=(1, 2)))
    assert second.computed == 4 and len(second.pooled_files) == 4
    run_extraction(str(tiny_model), fasta, fresh, options(pool=("mean", "bos"), repr_layers=(1, 2)))
    for layer in (1, 2):
        for method in ("mean", "bos"):
            got = load_compressed(out / f"embed_layer_{layer}_{method}.pkl")
            expected = load_compressed(fresh / f"embed_layer_{layer}_{method}.pkl")
            assert list(got) == list(SEQUENCES)
            assert all(np.allclose(got[label], expected[label], atol=1e-6) for label in SEQUENCES)
    third = run_extraction(str(tiny_model), fasta, out, options(pool=("bos",), repr_layers=(1,)))
    assert (third.computed, third.skipped) == (0, 4)
