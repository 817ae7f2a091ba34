"""plmtransfer/layout.py is the file-layout contract of docs/contracts.md: its paths, its parses, its weight."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plmtransfer import layout
from plmtransfer.embed.methods import METHODS

REPO = Path(__file__).resolve().parents[1]


def test_paths_are_those_of_the_contract():
    """Each builder gives the path docs/contracts.md states, relative to a run's root by default."""
    assert str(layout.metadata_path("DMS", "IF1_ECOLI")) == "data/DMS_metadata/IF1_ECOLI_metadata.csv"
    assert str(layout.metadata_path("PISCES", "SS_H")) == "data/PISCES_metadata/SS_H.csv"
    assert str(layout.fasta_path("DMS", "IF1_ECOLI")) == "data/DMS_mut_sequences/IF1_ECOLI_muts.fasta"
    assert str(layout.fasta_path("PISCES", layout.pisces_unit(64, 1022))) == "data/PISCES/pisces_len64-1022.fasta"
    assert str(layout.wildtype_path("IF1_ECOLI", "out")) == "out/DMS_metadata/IF1_ECOLI_wildtype.fasta"
    assert str(layout.dms_report_path()) == "data/DMS_prepare_report.csv"
    assert str(layout.pisces_summary_path()) == "data/PISCES/targets_summary.csv"
    assert str(layout.per_token_dir("DMS", "esm2_8M", "IF1_ECOLI")) == "embeddings/DMS/esm2_8M/IF1_ECOLI"
    assert str(layout.per_token_file("x", "ID_1")) == "x/ID_1.pt"
    assert (str(layout.compressed_path("PISCES", "esm2_15B", "pisces_len64-1022", 48, "mean"))
            == "embeddings/PISCES_compressed/esm2_15B/pisces_len64-1022/embed_layer_48_mean.pkl")
    assert layout.compressed_name(30, "pca1-2", "npz") == "embed_layer_30_pca1-2.npz"
    assert (str(layout.result_path("lassoCV", "random", "DMS", "onehot", "IF1_ECOLI", "flat"))
            == "results/lassoCV/DMS/onehot/IF1_ECOLI_flat.csv")
    assert (str(layout.result_path("lassoCV_sampling", "contiguous", "DMS", "m", "D", "mean", "/r"))
            == "/r/results/lassoCV_sampling_contiguous/DMS/m/D_mean.csv")
    assert str(layout.stats_dir("DMS", "modulo")) == "results/stats_modulo/DMS"
    assert str(layout.figures_dir("PISCES")) == "figures/PISCES"
    assert str(layout.figures_dir("DMS", "contiguous")) == "figures/DMS_contiguous"
    assert str(layout.log_path("extraction", "onehot", "IF1_ECOLI")) == "logs/extraction/onehot/IF1_ECOLI.log"
    assert str(layout.stats_log_path("DMS", "contiguous")) == "logs/stats/DMS_contiguous.log"
    assert str(layout.zero_shot_dir()) == "results/zero_shot"


@pytest.mark.parametrize("stem, expected", [
    ("BLAT_ECOLX_Ranganathan2015_pca1-2", ("BLAT_ECOLX_Ranganathan2015", "pca1-2")),
    ("IF1_ECOLI_h_avg", ("IF1_ECOLI", "h_avg")),
    ("IF1_ECOLI_h_avg+score", ("IF1_ECOLI", "h_avg+score")),
    ("embed_layer_4_c_final", ("embed_layer_4", "c_final")),
    ("parEparD_Laub2015_all_mean", ("parEparD_Laub2015_all", "mean")),
])
def test_a_stem_splits_at_the_method(stem, expected):
    """``<D>_<method>`` and ``embed_layer_<L>_<method>``: the last ``_`` field, or a registered method with ``_``."""
    assert layout.split_stem(stem, METHODS) == expected


def test_names_round_trip_through_their_parse():
    """What the builders write, the parsers read back: every registered method, both file formats."""
    for method in METHODS:
        for file_format in ("pkl", "npz"):
            assert layout.compressed_method(f"a_b/{layout.compressed_name(30, method, file_format)}", METHODS) == method
        assert layout.split_stem(layout.result_name("BRCA1_HUMAN_RING", method)[:-4], METHODS) == \
            ("BRCA1_HUMAN_RING", method)
    for name in ("IF1_ECOLI_metadata.csv", "IF1_ECOLI.csv.gz", "IF1_ECOLI.csv"):
        assert layout.dataset_of_metadata(Path("mirror") / name) == "IF1_ECOLI"
    assert layout.wildtype_beside("m/IF1_ECOLI_metadata.csv") == Path("m/IF1_ECOLI_wildtype.fasta")


def test_present_datasets_lists_the_prepared_metadata(tmp_path):
    for name in ("B", "A_X"):
        layout.metadata_path("DMS", name, tmp_path).parent.mkdir(parents=True, exist_ok=True)
        layout.metadata_path("DMS", name, tmp_path).write_text("ID,target\n")
    layout.wildtype_path("A_X", tmp_path).write_text(">wt\nM\n")
    assert layout.present_datasets("DMS", tmp_path) == ["A_X", "B"]
    assert layout.present_datasets("PISCES", tmp_path) == []


def test_layout_imports_nothing_heavy():
    """The parsers and the workflow read the layout: importing it loads no numerical library."""
    probe = subprocess.run([sys.executable, "-c", "import sys; import plmtransfer.layout; print(sorted(m for m in "
                            "('numpy', 'pandas', 'torch', 'sklearn', 'yaml') if m in sys.modules))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


def test_the_contract_page_names_the_layout_module():
    assert "plmtransfer/layout.py" in (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
