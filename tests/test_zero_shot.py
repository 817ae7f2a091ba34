"""Zero-shot scores: equal to a direct fair-esm computation; the malformed-mutant suite; offsets."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.esm.featuriser import load_model
from plmtransfer.backends.language_model import load_language_model
from plmtransfer.data.datasets import prepare_assays, wildtype_path
from plmtransfer.data.mutants import detect_offset, parse_mutant, read_variants
from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError
from plmtransfer.learn import zero_shot
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "zero_shot.py"
WILDTYPE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"  # 33 residues
TOLERANCE = 1e-5


def mutate(sequence: str, mutant: str, offset: int = 0) -> str:
    """Apply ``A3P:G5D`` to ``sequence`` (test-side, independent of the package)."""
    if mutant.upper() == "WT":
        return sequence
    letters = list(sequence)
    for part in mutant.split(":"):
        letters[int(part[1:-1]) - 1 + offset] = part[-1]
    return "".join(letters)


MUTANTS = ["M1A", "K2E", "T3P:A4G", "WT", "Y5W", "Q33L", "I6V:K8R:Q9A", "S13C", "A4G:T3P"]


def write_metadata(path, mutants=MUTANTS, wildtype=WILDTYPE, offset=0, rows=None):
    """A metadata CSV (``ID,mutant,target,sequence``) for ``mutants`` of ``wildtype``."""
    rng = np.random.default_rng(0)
    rows = rows or [(f"v{i}", mutant, float(rng.normal()), mutate(wildtype, mutant, offset))
                    for i, mutant in enumerate(mutants)]
    pd.DataFrame(rows, columns=["ID", "mutant", "target", "sequence"]).to_csv(path, index=False)
    return path


@pytest.fixture
def model(tiny_model, one_torch_thread):
    return load_language_model(str(tiny_model), LoadOptions(nogpu=True))


@pytest.fixture
def fair_esm(tiny_model):
    loaded = load_model(str(tiny_model))
    return loaded.model, loaded.alphabet


def direct_log_probs(fair_esm, sequence: str, masked=()) -> torch.Tensor:
    """log_softmax of fair-esm's full forward ``model(tokens)['logits']`` for one sequence (L+2 x V)."""
    model, alphabet = fair_esm
    _, _, tokens = alphabet.get_batch_converter()([("s", sequence)])
    for position in masked:
        tokens[0, 1 + position] = alphabet.mask_idx
    with torch.no_grad():
        return torch.log_softmax(model(tokens)["logits"], dim=-1)[0]


def substitutions(mutant):
    return [] if mutant == "WT" else [(int(p[1:-1]) - 1, p[0], p[-1]) for p in mutant.split(":")]


def direct_scores(fair_esm, scoring, wildtype=WILDTYPE, mutants=MUTANTS):
    """Meier et al.'s scorings computed one variant at a time, straight from fair-esm."""
    _, alphabet = fair_esm
    wt_probs = direct_log_probs(fair_esm, wildtype)
    scores = []
    for mutant in mutants:
        subs = substitutions(mutant)
        if scoring == "masked-marginals":
            probs = direct_log_probs(fair_esm, wildtype, [i for i, _, _ in subs])
        elif scoring == "wt-marginals":
            probs = wt_probs
        else:
            probs = direct_log_probs(fair_esm, mutate(wildtype, mutant))
        scores.append(sum(float(probs[1 + i, alphabet.get_idx(m)] - probs[1 + i, alphabet.get_idx(w)])
                          for i, w, m in subs))
    return np.array(scores)


def direct_pll(fair_esm, sequence):
    _, alphabet = fair_esm
    return sum(float(direct_log_probs(fair_esm, sequence, [j])[1 + j, alphabet.get_idx(letter)])
               for j, letter in enumerate(sequence))


@pytest.mark.parametrize("scoring", ["masked-marginals", "wt-marginals", "mutant-marginals"])
def test_marginals_equal_direct_fair_esm(tmp_path, model, fair_esm, scoring):
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv"))
    scores, passes = zero_shot.score_assay(model, assay, scoring, toks_per_batch=80)
    expected = direct_scores(fair_esm, scoring)
    np.testing.assert_allclose(scores, expected, atol=TOLERANCE, rtol=0)
    assert scores[MUTANTS.index("WT")] == 0
    assert scores[MUTANTS.index("A4G:T3P")] == pytest.approx(scores[MUTANTS.index("T3P:A4G")], abs=1e-12)
    assert passes == {"masked-marginals": 7, "wt-marginals": 1, "mutant-marginals": 7}[scoring]


def test_pseudo_ppl_equals_direct_fair_esm(tmp_path, model, fair_esm):
    mutants = ["M1A", "WT", "T3P:A4G"]
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv", mutants))
    scores, passes = zero_shot.score_assay(model, assay, "pseudo-ppl", toks_per_batch=200)
    reference = direct_pll(fair_esm, WILDTYPE)
    expected = [direct_pll(fair_esm, mutate(WILDTYPE, mutant)) - reference for mutant in mutants]
    np.testing.assert_allclose(scores, expected, atol=1e-4, rtol=0)
    assert scores[1] == 0 and passes == 3 * len(WILDTYPE)


@pytest.mark.parametrize(("positions", "expected"), [
    ([0], (0, 16)), ([7], (0, 16)), ([8], (0, 16)), ([9], (1, 17)), ([20], (12, 28)),
    ([24], (16, 32)), ([25], (17, 33)), ([32], (17, 33)), ([3, 17], (2, 18)),
])
def test_window_is_proteingyms_optimal_window(positions, expected):
    # get_optimal_window(c, L, W): [0, W] if c < W/2; [L-W, L] if c >= L - W/2; else [c - W/2, c + W/2]
    assert zero_shot.window(33, positions, 16) == expected
    assert zero_shot.window(16, [0], 16) == (0, 16)


def test_window_too_wide_variant_is_an_error():
    with pytest.raises(UserError, match="further apart than the model's window of 16"):
        zero_shot.window(33, [0, 20], 16)


@pytest.mark.parametrize("scoring", ["masked-marginals", "wt-marginals"])
def test_long_protein_windows_equal_direct_fair_esm(tmp_path, model, fair_esm, scoring):
    mutants = ["M1A", "S13C", "Q33L", "T3P:A4G"]
    assay = zero_shot.load_assay(write_metadata(tmp_path / "TOY_metadata.csv", mutants))
    scores, passes = zero_shot.score_assay(model, assay, scoring, size=16)
    starts = {"M1A": 0, "S13C": 4, "Q33L": 17, "T3P:A4G": 0}
    _, alphabet = fair_esm
    for mutant, score in zip(mutants, scores, strict=True):
        start = starts[mutant]
        piece = WILDTYPE[start:start + 16]
        subs = [(i - start, w, m) for i, w, m in substitutions(mutant)]
        probs = direct_log_probs(fair_esm, piece, [i for i, _, _ in subs] if scoring == "masked-marginals" else [])
        expected = sum(float(probs[1 + i, alphabet.get_idx(m)] - probs[1 + i, alphabet.get_idx(w)])
                       for i, w, m in subs)
        assert abs(score - expected) <= TOLERANCE, mutant
    assert passes == (4 if scoring == "masked-marginals" else 3)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("mutant", ["A", "23P", "A23", "AA23P", "A23P:", "A0P", "A2P:K2E", "A-3P", ""])
def test_malformed_mutant_strings(mutant):
    with pytest.raises(ValueError):
        parse_mutant(mutant)


@pytest.mark.parametrize(("rows", "message"), [
    ([("v0", "M1A", 1.0, "AKTAY"), ("v1", "K2@", 2.0, "MKTAY")], r"row 2 \(ID v1\): malformed mutant 'K2@'"),
    ([("v0", "M1A", 1.0, "AKTAY"), ("v1", "K2E", 2.0, "METAY"), ("v2", "Q3E", 0.0, "MKEAY")],
     r"row 3 \(ID v2, mutant 'Q3E'\): wild-type letter Q at sequence position 3 disagrees with the wild type's T"),
    ([("v0", "M1A", 1.0, "AKTAY"), ("v1", "K2E", 2.0, "METAY"), ("v2", "T3E", 0.0, "MKEAW")],
     r"row 3 \(ID v2, mutant 'T3E'\): its sequence has W at position 5 .* does not list"),
    ([("v0", "M1A", 1.0, "AKTAY"), ("v1", "K9E", 2.0, "MKTAY")],
     r"row 2 \(ID v1, mutant 'K9E'\): position 9 .* outside the 5-residue sequence"),
    ([("v0", "M1A", 1.0, "AKTAY"), ("v1", "K2E", 2.0, "MKTAY")],
     r"row 2 \(ID v1, mutant 'K2E'\): the variant's sequence has K at sequence position 2, not the mutant letter E"),
])
def test_bad_variants_name_the_row(tmp_path, rows, message):
    path = write_metadata(tmp_path / "BAD_metadata.csv", rows=rows)
    with pytest.raises(UserError, match=message):
        zero_shot.load_assay(path)


def test_wildtype_letter_disagreeing_with_recorded_wildtype(tmp_path):
    rows = [("v0", "M1A", 1.0, "AKTAY"), ("v1", "T3E", 2.0, "MKEAY")]
    path = write_metadata(tmp_path / "BAD_metadata.csv", rows=rows)
    (tmp_path / "BAD_wildtype.fasta").write_text(">BAD\nMKSAY\n")
    with pytest.raises(UserError, match=r"row 2 \(ID v1, mutant 'T3E'\): wild-type letter T at position 3 "
                                        "disagrees with the wild type's S"):
        zero_shot.load_assay(path)


def test_missing_mutant_column(tmp_path):
    path = tmp_path / "BAD_metadata.csv"
    pd.DataFrame({"ID": ["a"], "target": [1.0], "sequence": ["MK"]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="missing column"):
        zero_shot.load_assay(path)


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_cli_bad_assay_writes_nothing(tmp_path, tiny_model):
    good = write_metadata(tmp_path / "GOOD_metadata.csv")
    bad = write_metadata(tmp_path / "BAD_metadata.csv", rows=[("v0", "M1A", 1.0, "AKTAY"), ("v1", "K2", 2.0, "MKTAY")])
    result = run_script("--model", tiny_model, "-m", good, bad, "--out-dir", tmp_path / "out", "--nogpu", "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "row 2 (ID v1): malformed mutant 'K2'" in result.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- offsets


def test_offset_detected_reported_and_applied_only_when_asked(tmp_path, model, fair_esm):
    # mutants numbered one short: 'K1E' changes sequence position 2
    mutants = ["K1E", "T2P", "Y4W", "A3G:I5V"]
    rows = [(f"v{i}", mutant, float(i), mutate(WILDTYPE, mutant, offset=1)) for i, mutant in enumerate(mutants)]
    path = write_metadata(tmp_path / "OFF_metadata.csv", rows=rows)
    assert detect_offset(read_variants(path)) == 1
    with pytest.raises(UserError, match=r"shifted by \+1 .*pass --offset 1 or --offset auto"):
        zero_shot.load_assay(path)
    for requested in ("auto", "1"):
        assay = zero_shot.load_assay(path, offset=requested)
        assert assay.offset == 1 and assay.wildtype == WILDTYPE
    scores, _ = zero_shot.score_assay(model, zero_shot.load_assay(path, offset="auto"), "masked-marginals")
    expected = direct_scores(fair_esm, "masked-marginals", mutants=["K2E", "T3P", "Y5W", "A4G:I6V"])
    np.testing.assert_allclose(scores, expected, atol=TOLERANCE, rtol=0)


def test_real_mth3_offset_is_detected(mirror):
    path = mirror / "dms" / "MTH3_HAEAESTABILIZED_Tawfik2015.csv.gz"
    assert detect_offset(read_variants(path)) == 1
    with pytest.raises(UserError, match=r"row 1 \(ID MTH3_Stable_N2I, mutant 'N2I'\).*--offset 1 or --offset auto"):
        zero_shot.load_assay(path)
    assay = zero_shot.load_assay(path, offset="auto")
    assert assay.offset == 1 and len(assay.wildtype) == 331 and assay.wildtype[2] == "N"


@pytest.mark.parametrize("name", ["PTEN_HUMAN_Fowler2018", "TPMT_HUMAN_Fowler2018", "parEparD_Laub2015_all"])
def test_real_wildtype_rows_are_the_wildtype(mirror, name):
    path = mirror / "dms" / f"{name}.csv.gz"
    assay = zero_shot.load_assay(path)
    frame = pd.read_csv(path)
    wt_rows = frame.index[frame["mutant"].str.upper() == "WT"]
    assert len(wt_rows) == 1 and assay.offset == 0
    assert frame.at[wt_rows[0], "sequence"] == assay.wildtype
    assert assay.variants.substitutions[wt_rows[0]] == ()


# ----------------------------------------------------------------------------- outputs


def test_outputs_summary_and_resume(tmp_path, model):
    path = write_metadata(tmp_path / "TOY_metadata.csv")
    assay = zero_shot.load_assay(path)
    out = tmp_path / "out"
    row = zero_shot.run(model, assay, "wt-marginals", out)
    zero_shot.run(model, assay, "masked-marginals", out)
    scores = pd.read_csv(out / model.name / "TOY_wt-marginals.csv", dtype={"ID": str})
    assert list(scores.columns) == ["ID", "mutant", "score"] and scores["ID"].tolist() == assay.variants.ids
    targets = pd.read_csv(path)["target"]
    assert row["spearman"] == pytest.approx(spearmanr(scores["score"], targets)[0], abs=1e-12)
    summary = pd.read_csv(out / "TOY_summary.csv")
    assert list(summary.columns) == zero_shot.SUMMARY_COLUMNS
    assert sorted(summary["Scoring"]) == ["masked-marginals", "wt-marginals"] and set(summary["n"]) == {9}
    again = zero_shot.run(model, assay, "wt-marginals", out)
    assert again["passes"] == 0 and again["spearman"] == row["spearman"]
    assert len(pd.read_csv(out / "TOY_summary.csv")) == 2


def test_help_explains_scorings_and_costs():
    result = run_script("--help")
    assert result.returncode == 0
    for scoring, cost in zero_shot.SCORING_COSTS.items():
        assert scoring in result.stdout and cost in result.stdout


def test_prepare_records_the_wildtype(tmp_path, mirror):
    reports = prepare_assays(["MTH3_HAEAESTABILIZED_Tawfik2015", "IF1_ECOLI"], tmp_path, mirror / "dms",
                             offline=True)
    assert [report.status for report in reports] == ["prepared", "prepared"]
    [mth3] = read_fasta(wildtype_path(tmp_path, "MTH3_HAEAESTABILIZED_Tawfik2015"))
    assert "mutant_offset=+1" in mth3.label and reports[0].wildtype.endswith("offset +1")
    assert mth3.sequence == zero_shot.load_assay(mirror / "dms" / "MTH3_HAEAESTABILIZED_Tawfik2015.csv.gz",
                                                 offset="auto").wildtype
    metadata = tmp_path / "DMS_metadata" / "MTH3_HAEAESTABILIZED_Tawfik2015_metadata.csv"
    with pytest.raises(UserError, match="disagrees with the wild type's .*--offset 1"):
        zero_shot.load_assay(metadata)
    assert zero_shot.load_assay(metadata, offset="1").offset == 1
    [if1] = read_fasta(wildtype_path(tmp_path, "IF1_ECOLI"))
    assert len(if1.sequence) == 72 and "offset" not in if1.label
