"""PISCES preparation: hand-computed targets, chain selection, the CLI, DSSP on built structures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plmtransfer.data.pisces import (
    dssp_states,
    isoelectric_point,
    net_charge,
    resolved_states,
    select_chains,
    sequence_targets,
    structure_fractions,
)
from plmtransfer.data.sequences import Record

REPO = Path(__file__).resolve().parents[1]
GLYCINE_WEIGHT = 75.0666  # average mass of free glycine (IUPAC), as ProtParam
WATER_WEIGHT = 18.0153


def henderson_hasselbalch(ph: float, positive: list[float], negative: list[float]) -> float:
    """Net charge of independent groups with the given pKs, written out by hand."""
    return (sum(1 / (1 + 10 ** (ph - pk)) for pk in positive)
            - sum(1 / (1 + 10 ** (pk - ph)) for pk in negative))


def test_tetraglycine_by_hand():
    """GGGG: only the termini ionise, so pI is the mean of their Lehninger pKs (9.69, 2.34)."""
    targets = sequence_targets("GGGG")
    assert targets["PCP_length"] == 4
    assert targets["PCP_Isoelectric_point"] == pytest.approx((9.69 + 2.34) / 2, abs=1e-5)
    assert targets["PCP_Charge"] == pytest.approx(
        1 / (1 + 10 ** (7 - 9.69)) - 1 / (1 + 10 ** (2.34 - 7)), abs=1e-12)
    assert targets["PCP_mW_kDa"] == pytest.approx((4 * GLYCINE_WEIGHT - 3 * WATER_WEIGHT) / 1000,
                                                  abs=1e-6)
    assert targets["PCP_Hydrophobicity"] == pytest.approx(-0.4)  # Kyte-Doolittle G
    assert targets["PCP_Instability_index"] == pytest.approx(10 / 4 * 3 * 13.34)  # DIWV[G][G]
    assert targets["PCP_AAfreq_Gly"] == 1.0
    assert targets["PCP_AAfreq_Ala"] == 0.0


def test_charged_peptide_uses_lehninger_scale():
    """KDEHCYR at pH 7: every Lehninger group once (Biopython's own scale would differ)."""
    sequence = "KDEHCYR"
    expected = henderson_hasselbalch(7.0, [9.69, 10.53, 12.48, 6.00], [2.34, 3.65, 4.25, 8.18, 10.07])
    assert net_charge(sequence) == pytest.approx(expected, abs=1e-12)
    pi = isoelectric_point(sequence)
    assert henderson_hasselbalch(pi, [9.69, 10.53, 12.48, 6.00],
                                 [2.34, 3.65, 4.25, 8.18, 10.07]) == pytest.approx(0, abs=1e-5)
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    assert abs(ProteinAnalysis(sequence).charge_at_pH(7.0) - expected) > 0.01


def test_frequencies_and_hydropathy_by_hand():
    """AACL: Ala 1/2, Cys 1/4, Leu 1/4; hydropathy (1.8 + 1.8 + 2.5 + 3.8) / 4."""
    targets = sequence_targets("AACL")
    assert targets["PCP_AAfreq_Ala"] == 0.5
    assert targets["PCP_AAfreq_Cys"] == 0.25
    assert targets["PCP_AAfreq_Leu"] == 0.25
    assert sum(value for name, value in targets.items() if "AAfreq" in name) == pytest.approx(1.0)
    assert targets["PCP_Hydrophobicity"] == pytest.approx((1.8 + 1.8 + 2.5 + 3.8) / 4)
    assert targets["PCP_Instability_index"] == pytest.approx(10 / 4 * (1.0 + 44.94 + 20.26))


def test_structure_fractions_over_resolved_residues():
    """Unresolved residues (mask 0) do not count; anything but H and E is coil."""
    states = resolved_states("HHEECCH", "1110110")
    assert states == "HHECC"
    assert structure_fractions(states) == {"SS_H": 0.4, "SS_E": 0.2, "SS_Coil": 0.4}


def test_select_chains_length_and_nonstandard_letters():
    """Length bounds are inclusive; X, U and O chains are dropped and counted by letter."""
    records = [Record("ok-A", "A" * 64), Record("long-A", "A" * 1023), Record("short-A", "A" * 63),
               Record("x-A", "A" * 70 + "X"), Record("u-A", "A" * 70 + "U"),
               Record("o-B desc", "A" * 70 + "O"), Record("max-A extra words", "G" * 1022)]
    selection = select_chains(records)
    assert [record.label for record in selection.kept] == ["ok-A", "max-A"]
    assert selection.dropped == {"length outside 64-1022": 2, "non-standard residue(s) X": 1,
                                 "non-standard residue(s) U": 1, "non-standard residue(s) O": 1}


def write_fasta_text(path: Path, records: dict[str, str]) -> Path:
    """Write ``records`` as FASTA and return the path."""
    path.write_text("".join(f">{label}\n{sequence}\n" for label, sequence in records.items()))
    return path


def test_cli_writes_one_csv_per_target(tmp_path):
    """The script keeps the valid chains and writes ID,target files, FASTA and summary."""
    rng = np.random.default_rng(0)
    sequences = {f"c{i}-A": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 80)) for i in range(3)}
    sequences["bad-A"] = "A" * 79 + "X"
    labels = {label: "H" * 40 + "E" * 20 + "C" * 20 for label in sequences}
    masks = {label: "1" * 60 + "0" * 20 for label in sequences}
    completed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "prepare_pisces.py"),
         "--sequences", str(write_fasta_text(tmp_path / "seq.fasta", sequences)),
         "--labels", str(write_fasta_text(tmp_path / "ss.fasta", labels)),
         "--mask", str(write_fasta_text(tmp_path / "mask.fasta", masks)),
         "--out-dir", str(tmp_path / "data")], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "dropped 1: non-standard residue(s) X" in completed.stdout
    helix = pd.read_csv(tmp_path / "data" / "PISCES_metadata" / "SS_H.csv")
    assert list(helix.columns) == ["ID", "target"]
    assert list(helix["ID"]) == ["c0-A", "c1-A", "c2-A"]
    assert np.allclose(helix["target"], 40 / 60)
    coil = pd.read_csv(tmp_path / "data" / "PISCES_metadata" / "SS_Coil.csv")
    assert np.allclose(coil["target"], 0.0)
    length = pd.read_csv(tmp_path / "data" / "PISCES_metadata" / "PCP_length.csv")
    assert list(length["target"]) == [80, 80, 80]
    fasta = (tmp_path / "data" / "PISCES" / "pisces_len64-1022.fasta").read_text()
    assert fasta.count(">") == 3 and "bad-A" not in fasta
    summary = pd.read_csv(tmp_path / "data" / "PISCES" / "targets_summary.csv")
    assert len(summary) == 6 + 20 + 3
    assert summary.set_index("target").loc["PCP_length", "mean"] == 80


def test_max_chains_keeps_a_seeded_draw_in_file_order(tmp_path):
    """--max-chains N --seed S keeps N filtered chains in file order, the same ones for the same seed."""
    rng = np.random.default_rng(1)
    sequences = {f"c{i}-A": "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 70 + i)) for i in range(12)}
    fasta = write_fasta_text(tmp_path / "seq.fasta", sequences)

    def kept(out, *extra):
        completed = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pisces.py"),
                                    "--sequences", str(fasta), "--out-dir", str(tmp_path / out), *extra],
                                   capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout, pd.read_csv(tmp_path / out / "PISCES_metadata" / "PCP_length.csv")

    stdout, first = kept("a", "--max-chains", "5", "--seed", "7")
    assert "5 of 12 chains kept" in stdout and "dropped 7: not drawn by --max-chains 5 --seed 7" in stdout
    assert len(first) == 5 and first["ID"].tolist() == sorted(first["ID"], key=lambda c: int(c[1:-2]))
    assert first["target"].tolist() == [len(sequences[c]) for c in first["ID"]]
    assert kept("b", "--max-chains", "5", "--seed", "7")[1].equals(first)
    assert set(kept("c", "--max-chains", "5", "--seed", "8")[1]["ID"]) != set(first["ID"])
    assert len(kept("d", "--max-chains", "50")[1]) == 12


def test_cli_without_input_is_one_clear_line(tmp_path):
    """No --mirror and no --sequences: exit 2 with one line, nothing written."""
    completed = subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_pisces.py"),
                                "--out-dir", str(tmp_path / "data")],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "--mirror" in completed.stderr
    assert not (tmp_path / "data").exists()


# ---- DSSP on geometrically built backbones ---------------------------------------------

BOND = {"N-CA": 1.458, "CA-C": 1.525, "C-N": 1.329, "C-O": 1.231}
ANGLE = {"N-CA-C": 111.2, "CA-C-N": 116.2, "C-N-CA": 121.7, "CA-C-O": 120.5}


def place_atom(a, b, c, bond, angle, torsion):
    """Position of atom d from a, b, c, the bond c-d, the angle b-c-d and the torsion a-b-c-d."""
    angle, torsion = np.radians(angle), np.radians(torsion)
    bc = (c - b) / np.linalg.norm(c - b)
    normal = np.cross(b - a, bc)
    normal /= np.linalg.norm(normal)
    local = np.array([-bond * np.cos(angle), bond * np.sin(angle) * np.cos(torsion),
                      bond * np.sin(angle) * np.sin(torsion)])
    return c + local[0] * bc + local[1] * np.cross(normal, bc) + local[2] * normal


def build_backbone(dihedrals):
    """N, CA, C, O of each residue from (phi, psi) pairs with ideal geometry and trans omega."""
    n, ca = np.array([0.0, BOND["N-CA"], 0.0]), np.zeros(3)
    c = place_atom(np.array([1.0, BOND["N-CA"], 0.0]), n, ca, BOND["CA-C"], ANGLE["N-CA-C"], -60.0)
    residues = []
    for index, (phi, psi) in enumerate(dihedrals):
        if index:
            previous_n, previous_ca, previous_c, previous_psi = residues[-1][0], residues[-1][1], \
                residues[-1][2], dihedrals[index - 1][1]
            n = place_atom(previous_n, previous_ca, previous_c, BOND["C-N"], ANGLE["CA-C-N"],
                           previous_psi)
            ca = place_atom(previous_ca, previous_c, n, BOND["N-CA"], ANGLE["C-N-CA"], 180.0)
            c = place_atom(previous_c, n, ca, BOND["CA-C"], ANGLE["N-CA-C"], phi)
        oxygen = place_atom(n, ca, c, BOND["C-O"], ANGLE["CA-C-O"], psi + 180.0)
        residues.append((n, ca, c, oxygen))
    return residues


def write_pdb(residues, path: Path) -> Path:
    """Write a poly-alanine backbone as a minimal PDB file (chain A)."""
    lines = ["HEADER    DE NOVO PROTEIN                         01-JAN-00   XXXX",
             "CRYST1    1.000    1.000    1.000  90.00  90.00  90.00 P 1           1"]
    serial = 1
    for number, atoms in enumerate(residues, start=1):
        for name, xyz in zip(("N", "CA", "C", "O"), atoms, strict=True):
            lines.append(f"ATOM  {serial:5d}  {name:<3s} ALA A{number:4d}    "
                         f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00           {name[0]}")
            serial += 1
    path.write_text("\n".join(lines + ["END"]) + "\n")
    return path


@pytest.fixture
def mkdssp():
    """Skip when DSSP is not installed (Debian package 'dssp')."""
    if shutil.which("mkdssp") is None and shutil.which("dssp") is None:
        pytest.skip("mkdssp not installed (as root: apt-get install dssp; .ci/run installs it)")


@pytest.mark.ci_required
def test_dssp_ideal_alpha_helix(tmp_path, mkdssp):
    """20 residues at phi -57, psi -47: all helix except the two unbonded ends."""
    path = write_pdb(build_backbone([(-57.0, -47.0)] * 20), tmp_path / "helix.pdb")
    states = dssp_states(path, "A")
    assert states == "C" + "H" * 18 + "C"
    assert structure_fractions(states) == pytest.approx({"SS_H": 0.9, "SS_E": 0.0, "SS_Coil": 0.1})


@pytest.mark.ci_required
def test_dssp_beta_hairpin(tmp_path, mkdssp):
    """Two 6-residue strands (phi -120, psi 130) joined by a type I' turn form a hairpin."""
    strand = [(-120.0, 130.0)] * 6
    path = write_pdb(build_backbone(strand + [(50.0, 50.0), (90.0, 0.0)] + strand),
                     tmp_path / "hairpin.pdb")
    states = dssp_states(path)
    assert states == "CEEEEECCEEEEEC"
    assert structure_fractions(states)["SS_E"] == pytest.approx(10 / 14)
    assert structure_fractions(states)["SS_H"] == 0.0
