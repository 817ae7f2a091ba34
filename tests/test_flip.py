"""Issue #30, external benchmarks: FLIP GB1 splits and baselines; ProteinGym beside our zero-shot scores."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import OneHotEncoder

from plmtransfer.data import flip
from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError
from plmtransfer.learn import baselines, regress

WT = flip.GB1_WILDTYPE


def variant(residues: str) -> str:
    """The GB1 wild type with ``residues`` at sites 39, 40, 41 and 54."""
    sequence = list(WT)
    for site, residue in zip(flip.GB1_SITES, residues, strict=True):
        sequence[site - 1] = residue
    return "".join(sequence)


def fixture_split(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A small split in FLIP's released format: additive fitness, 30 train (3 validation), 10 test."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    effect = dict(zip(letters, rng.normal(size=20), strict=True))
    codes = ["VDGV"]
    while len(codes) < n:
        code = "".join(rng.choice(letters, size=4))
        if code not in codes:
            codes.append(code)
    target = [sum(effect[letter] for letter in code) + rng.normal(scale=0.1) for code in codes]
    sets = ["train"] * 30 + ["test"] * (n - 30)
    validation = [True if row in (3, 7, 11) else None for row in range(n)]
    return pd.DataFrame({"sequence": [variant(code) for code in codes], "target": target, "set": sets,
                         "validation": validation})


@pytest.fixture
def fixture_mirror(tmp_path):
    """A mirror directory with one split (``sampled``) as ``.csv.gz``."""
    directory = tmp_path / "flip_gb1"
    directory.mkdir()
    with gzip.open(directory / "sampled.csv.gz", "wt") as handle:
        fixture_split().to_csv(handle, index=False)
    return directory


# ----------------------------------------------------------------------------- preparation


def test_prepare_writes_metadata_fasta_and_report(fixture_mirror, tmp_path):
    out = tmp_path / "data"
    [report] = flip.prepare(fixture_mirror, out, splits=("sampled",))
    assert (report.train, report.validation, report.test, report.total) == (30, 3, 10, 40)
    metadata = pd.read_csv(out / "FLIP_metadata" / "gb1_sampled.csv")
    assert list(metadata.columns) == ["ID", "target", "sequence", "set", "validation"]
    assert metadata["ID"].iloc[0] == "VDGV" and metadata["sequence"].iloc[0] == WT
    assert metadata["validation"].tolist() == [row in (3, 7, 11) for row in range(40)]
    assert np.allclose(metadata["target"], fixture_split()["target"])
    records = read_fasta(out / "FLIP" / "gb1.fasta")
    assert [record.label for record in records] == metadata["ID"].tolist()
    assert read_fasta(out / "FLIP" / "gb1_wildtype.fasta")[0] == ("VDGV", WT)
    summary = pd.read_csv(out / "FLIP" / "prepare_report.csv")
    assert summary.to_dict("records") == [{"split": "sampled", "dataset": "gb1_sampled", "train": 30,
                                           "validation": 3, "test": 10, "total": 40}]


def test_prepare_reads_flips_splits_zip_with_the_same_ids(fixture_mirror, tmp_path):
    archive = tmp_path / "splits.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("splits/sampled.csv", fixture_split().to_csv(index=False))
    flip.prepare(archive, tmp_path / "from_zip", splits=("sampled",))
    flip.prepare(fixture_mirror, tmp_path / "from_dir", splits=("sampled",))
    from_zip = pd.read_csv(tmp_path / "from_zip" / "FLIP_metadata" / "gb1_sampled.csv")
    from_dir = pd.read_csv(tmp_path / "from_dir" / "FLIP_metadata" / "gb1_sampled.csv")
    pd.testing.assert_frame_equal(from_zip, from_dir)


def test_predefined_cv_trains_on_every_train_row_validation_included(fixture_mirror, tmp_path):
    flip.prepare(fixture_mirror, tmp_path, splits=("sampled",))
    metadata = pd.read_csv(flip.metadata_path(tmp_path, "sampled"))
    [(train, test)] = regress.outer_folds(metadata, "predefined")
    assert train.tolist() == list(range(30)) and test.tolist() == list(range(30, 40))


def test_a_sequence_mutated_outside_the_four_sites_is_an_error(tmp_path):
    split = fixture_split()
    split.loc[5, "sequence"] = "A" + split.loc[5, "sequence"][1:]
    (tmp_path / "m").mkdir()
    split.to_csv(tmp_path / "m" / "sampled.csv", index=False)
    with pytest.raises(UserError, match=r"outside sites .* at \[1\]"):
        flip.prepare(tmp_path / "m", tmp_path / "out", splits=("sampled",))


def test_unknown_split_and_missing_file_are_errors(fixture_mirror, tmp_path):
    with pytest.raises(UserError, match="unknown FLIP GB1 split 'four_vs_rest'"):
        flip.prepare(fixture_mirror, tmp_path, splits=("four_vs_rest",))
    with pytest.raises(UserError, match="no low_vs_high.csv.gz"):
        flip.prepare(fixture_mirror, tmp_path, splits=("low_vs_high",))


# ----------------------------------------------------------------------------- parameter-free baselines


@pytest.mark.parametrize(("a", "b", "distance"), [
    ("VDGV", "VDGV", 0), ("VDGV", "ADGV", 1), ("VDGV", "AWLV", 3),
    ("VDGV", "DGVV", 2),  # Hamming 3: delete the leading V, append a V
    ("kitten", "sitting", 3), ("", "ABC", 3), ("ABC", "", 3),
])
def test_levenshtein_of_hand_checked_pairs(a, b, distance):
    assert baselines.levenshtein(a, b) == distance == baselines.levenshtein(b, a)


def test_levenshtein_equals_the_dynamic_programme_on_random_strings():
    rng = np.random.default_rng(1)
    for _ in range(300):
        a = "".join(rng.choice(list("ABC"), size=rng.integers(0, 10)))
        b = "".join(rng.choice(list("ABC"), size=rng.integers(0, 80)))
        row = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            previous, row = row, [i]
            for j, y in enumerate(b, 1):
                row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y)))
        assert baselines.levenshtein(a, b) == row[-1]


def test_blosum62_scores_of_hand_checked_variants():
    # BLOSUM62: V-A 0, D-D 6, G-G 6, V-V 4; W against V -3, D -4, G -2
    assert baselines.blosum62_score("VDGV", "ADGV") == 0 + 6 + 6 + 4
    assert baselines.blosum62_score("VDGV", "WWWW") == -3 - 4 - 2 - 3
    # on the full GB1 sequence only the mutated sites change the score: V39A loses V-V 4, gains V-A 0
    assert baselines.blosum62_score(WT, variant("ADGV")) - baselines.blosum62_score(WT, WT) == -4
    # V39W, D40W: -3 - 4 against 4 + 6
    assert baselines.blosum62_score(WT, variant("WWGV")) - baselines.blosum62_score(WT, WT) == -17
    with pytest.raises(ValueError, match="aligned"):
        baselines.blosum62_score("VDGV", "VDG")


def test_baseline_signs_follow_flip():
    variants = ["VDGV", "ADGV", "AWGV", "WWWW"]  # distances 0, 1, 2, 4
    target = [4.0, 3.0, 2.0, 1.0]
    # FLIP correlates -distance: closer to the wild type, fitter
    assert baselines.levenshtein_rho("VDGV", variants, target) == pytest.approx(1.0)
    # BLOSUM62 scores 20, 16, 6, -12: higher score, fitter
    assert baselines.blosum62_rho("VDGV", variants, target) == pytest.approx(1.0)
    assert np.isnan(baselines.levenshtein_rho("VDGV", ["VDGV", "VDGV"], [1.0, 2.0]))


# ----------------------------------------------------------------------------- FLIP's ridge


def independent_ridge(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """FLIP's ridge computed another way: scikit-learn's OneHotEncoder over the positions, sparse.

    The sequences have one length (as in GB1), so FLIP's zero padding does not arise.
    """
    length = max(len(sequence) for sequence in pd.concat([train, test])["sequence"])
    encoder = OneHotEncoder(categories=[list(baselines.FLIP_VOCAB)] * length, handle_unknown="error")

    def encode(frame: pd.DataFrame):
        return encoder.fit_transform(np.array([list(sequence) for sequence in frame["sequence"]]))

    model = Ridge(alpha=1.0, solver="lsqr", tol=1e-4, max_iter=10**6).fit(encode(train), train["target"])
    return model.predict(encode(test))


def assert_same_ridge(train: pd.DataFrame, test: pd.DataFrame) -> float:
    """Ours and the independent computation agree: predictions to 1e-6, rho exactly once rounding is undone.

    Variants whose mutated residues were all seen together in training get mathematically equal
    predictions; rounding in a different summation order breaks those ties differently and moves
    Spearman's rho in the fourth decimal, so rho is compared on predictions rounded to 1e-8.
    """
    rho, ours = baselines.flip_ridge(list(train["sequence"]), train["target"], list(test["sequence"]), test["target"])
    theirs = independent_ridge(train, test)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    assert baselines.spearman(np.round(ours, 8), test["target"]) == baselines.spearman(np.round(theirs, 8),
                                                                                        test["target"])
    assert rho == pytest.approx(baselines.spearman(np.round(ours, 8), test["target"]), abs=2e-3)
    return rho


def test_flip_ridge_reproduced_by_an_independent_computation():
    split = fixture_split(n=60, seed=3)
    split["set"] = ["train"] * 30 + ["test"] * 30
    train, test = split[split["set"] == "train"], split[split["set"] == "test"]
    rho = assert_same_ridge(train, test)
    assert rho > 0.5  # additive fitness: a one-hot linear model ranks the test variants well


def test_flip_ridge_trains_on_validation_rows_too():
    split = fixture_split()
    train, test = split[split["set"] == "train"], split[split["set"] == "test"]
    with_validation = baselines.flip_ridge(list(train["sequence"]), train["target"], list(test["sequence"]),
                                           test["target"])[1]
    without = train[train["validation"].isna()]
    without_validation = baselines.flip_ridge(list(without["sequence"]), without["target"],
                                              list(test["sequence"]), test["target"])[1]
    assert not np.allclose(with_validation, without_validation)


def test_flip_onehot_is_flips_padded_layout():
    encoded = baselines.flip_onehot(["AR", "U"], length=3)
    assert encoded.shape == (2, 3 * 22)
    expected = np.zeros((2, 3, 22))
    expected[0, 0, 0] = expected[0, 1, 1] = expected[1, 0, 21] = 1.0
    assert np.array_equal(encoded, expected.reshape(2, -1))


# ----------------------------------------------------------------------------- the mirror


@pytest.fixture
def flip_mirror(mirror):
    """The mirror's FLIP GB1 splits (skipped with a reason when absent)."""
    directory = mirror / "flip_gb1"
    if not (directory / "one_vs_rest.csv.gz").is_file():
        pytest.skip(f"no FLIP GB1 splits in the mirror at {directory}")
    return directory


def test_mirror_splits_prepare_with_the_released_sizes(flip_mirror, tmp_path):
    reports = {report.split: report for report in flip.prepare(flip_mirror, tmp_path)}
    sizes = {split: (r.train, r.validation, r.test, r.total) for split, r in reports.items()}
    assert sizes == {"one_vs_rest": (28, 3, 8705, 8733), "two_vs_rest": (424, 43, 8309, 8733),
                     "three_vs_rest": (2990, 299, 5743, 8733), "low_vs_high": (5089, 509, 3644, 8733),
                     "sampled": (6988, 699, 1745, 8733)}
    ids = [pd.read_csv(flip.metadata_path(tmp_path, split))["ID"].tolist() for split in flip.SPLITS]
    assert all(each == ids[0] for each in ids) and len(read_fasta(flip.fasta_path(tmp_path))) == 8733
    # one_vs_rest trains on the wild type and its single mutants (FLIP's README)
    one = pd.read_csv(flip.metadata_path(tmp_path, "one_vs_rest"))
    mutations = one["ID"].map(lambda code: sum(a != b for a, b in zip(code, "VDGV", strict=True)))
    assert mutations[one["set"] == "train"].max() == 1 and mutations[one["set"] == "test"].min() >= 2


def test_mirror_ridge_on_one_vs_rest_matches_the_independent_computation(flip_mirror, tmp_path):
    flip.prepare(flip_mirror, tmp_path, splits=("one_vs_rest",))
    metadata = pd.read_csv(flip.metadata_path(tmp_path, "one_vs_rest"))
    train = metadata[metadata["set"] == "train"]
    test = metadata[metadata["set"] == "test"].iloc[:500]
    assert_same_ridge(train, test)


# ----------------------------------------------------------------------------- ProteinGym side by side


def results_zero_shot():
    """bench/results_zero_shot.py as a module."""
    import importlib.util

    from tests.conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("results_zero_shot", REPO_ROOT / "bench" / "results_zero_shot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_two_assays(tmp_path):
    """A DMS mirror with two assays and ProteinGym tables for them (assay B's raw direction is -1)."""
    wildtypes = {"AAA_HUMAN_Smith2015": "MKTAYIAKQR", "BBB_YEAST_Jones2016": "MSEQLLKNAW"}
    mirror, proteingym = tmp_path / "dms", tmp_path / "proteingym"
    mirror.mkdir()
    proteingym.mkdir()
    for dataset, wildtype in wildtypes.items():
        rows = [{"ID": f"v{i}", "mutant": f"{wildtype[i]}{i + 1}A", "target": float(i),
                 "sequence": wildtype[:i] + "A" + wildtype[i + 1:]} for i in range(1, 5)]
        pd.DataFrame(rows).to_csv(mirror / f"{dataset}.csv.gz", index=False)
    pd.DataFrame({"DMS_id": ["AAA_HUMAN_Smith_2015", "BBB_YEAST_Jones_2016"], "target_seq": list(wildtypes.values()),
                  "year": [2015, 2016], "raw_DMS_directionality": [1, -1]}).to_csv(
        proteingym / "DMS_substitutions.csv", index=False)
    pd.DataFrame({"DMS ID": ["AAA_HUMAN_Smith_2015", "BBB_YEAST_Jones_2016"], "Unirep": [0.30, 0.20]}).to_csv(
        proteingym / "zero_shot_DMS_substitutions_Spearman_DMS_level.csv", index=False)
    for scheme, values in (("random", [0.6, 0.5]), ("modulo", [0.1, 0.0]), ("contiguous", [0.2, 0.1])):
        pd.DataFrame({"DMS_id": ["AAA_HUMAN_Smith_2015", "BBB_YEAST_Jones_2016"], "One-Hot Encodings": values}).to_csv(
            proteingym / f"supervised_DMS_substitutions_Spearman_DMS_level_fold_{scheme}_5.csv", index=False)
    zero = [{"Dataset": dataset, "Kind": "zero-shot", "CV": np.nan, "Features": "llr", "Model": model, "n": 4,
             "offset": 0, "R2_test": np.nan, "rho_test": rho}
            for dataset, rho in (("AAA_HUMAN_Smith2015", 0.25), ("BBB_YEAST_Jones2016", -0.10))
            for model in ("unirep_64", "unirep_256", "unirep_1900")]
    onehot = [{"Dataset": "AAA_HUMAN_Smith2015", "Kind": "regression", "CV": "random", "Features": "onehot",
               "Model": "onehot", "n": np.nan, "offset": np.nan, "R2_test": 0.1, "rho_test": 0.4}]
    return pd.DataFrame(zero + onehot), proteingym, mirror


def test_proteingym_sign_alignment_on_two_assays(tmp_path):
    module = results_zero_shot()
    per_assay, proteingym, mirror = write_two_assays(tmp_path)
    table, unmatched = module.proteingym_table(per_assay, proteingym, mirror)
    assert unmatched == []
    table = table.set_index("Dataset")
    assert table.loc["AAA_HUMAN_Smith2015", "DMS_id"] == "AAA_HUMAN_Smith_2015"
    # B's raw scores are oriented the other way (directionality -1): our rho -0.10 becomes +0.10
    assert table.loc["BBB_YEAST_Jones2016", "llr_unirep1900"] == pytest.approx(0.10)
    assert table.loc["BBB_YEAST_Jones2016", "llr_raw"] == pytest.approx(-0.10)
    assert table.loc["AAA_HUMAN_Smith2015", "llr_unirep1900"] == pytest.approx(0.25)
    assert table.loc["AAA_HUMAN_Smith2015", "onehot_random"] == pytest.approx(0.4)
    assert table.loc["AAA_HUMAN_Smith2015", "onehot_PG_contiguous"] == pytest.approx(0.2)
    text = "\n".join(module.proteingym_section(per_assay, proteingym, mirror))
    # mean difference ((0.25 - 0.30) + (0.10 - 0.20)) / 2
    assert "mean difference (ours - ProteinGym) -0.075" in text
    replaced = module.replace_proteingym_section("# report\n", text.splitlines())
    assert replaced.count("## ProteinGym side by side") == 1
    begin, end = module.PROTEINGYM_MARKERS
    assert module.replace_proteingym_section(replaced, [begin, "new", end]) == f"# report\n\n{begin}\nnew\n{end}\n"
