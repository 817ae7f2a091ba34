"""Combining two feature sets: ``--append`` (columns joined by ID, scaled with the input's) and ``--stack``
(plmtransfer/learn/stacking.py: a second-level fit on out-of-fold predictions made inside the outer training folds)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LassoCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.cli.reg_lassoCV import main as regress_main
from plmtransfer.errors import UserError
from plmtransfer.learn import regress, stacking
from plmtransfer.learn.features import Table

ROWS = 60
OPTIONS = regress.Options(n_jobs=1)


def write_pkl(path, vectors):
    with open(path, "wb") as handle:
        pickle.dump(vectors, handle)
    return path


@pytest.fixture
def assay(tmp_path):
    """60 proteins: a 3-column embedding, 2 contact-like columns on another scale, a target using both."""
    rng = np.random.default_rng(7)
    ids = [f"P{index:03d}" for index in range(ROWS)]
    embedding = rng.normal(size=(ROWS, 3))
    contact = rng.uniform(0, 50, size=(ROWS, 2))
    target = embedding[:, 0] + 0.05 * contact[:, 1] + rng.normal(scale=0.2, size=ROWS)
    metadata = tmp_path / "TOY_metadata.csv"
    pd.DataFrame({"ID": ids, "target": target}).to_csv(metadata, index=False)
    order = rng.permutation(ROWS)  # the contact file lists its IDs in another order, plus one the metadata lacks
    contact_vectors = {ids[row]: contact[row].astype(np.float32) for row in order}
    contact_vectors["NOT_IN_METADATA"] = np.array([1e6, -1e6], dtype=np.float32)
    return {"ids": ids, "embedding": embedding, "contact": contact, "target": target, "metadata": metadata,
            "embeddings": write_pkl(tmp_path / "embed_layer_6_mean.pkl",
                                    {i: v.astype(np.float32) for i, v in zip(ids, embedding, strict=True)}),
            "contacts": write_pkl(tmp_path / "embed_layer_6_contact_summary.pkl", contact_vectors),
            "tmp": tmp_path}


# ----------------------------------------------------------------------------- --append


def test_append_joins_by_id_and_scales_with_the_input(assay):
    results = regress.run(assay["embeddings"], assay["metadata"], regress.Options(n_jobs=1, append=assay["contacts"]))
    X = MinMaxScaler().fit_transform(np.column_stack([assay["embedding"], assay["contact"]]).astype(np.float32))
    y = assay["target"]
    for (train, test), (_, row) in zip(KFold(5, shuffle=True, random_state=42).split(X), results.iterrows(),
                                       strict=True):
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42).fit(X[train], y[train])
        assert row["R2_score_test"] == pytest.approx(r2_score(y[test], model.predict(X[test])), abs=1e-5)
    assert set(results["Compression_method"]) == {"mean+contact_summary"}
    assert set(results["Protocol"]) == {"study"}


def test_an_appended_column_on_another_scale_gives_the_same_fit(assay):
    rescaled = write_pkl(assay["tmp"] / "embed_layer_6_contact_order.pkl",
                         {i: (v * 1000 + 7).astype(np.float32)
                          for i, v in zip(assay["ids"], assay["contact"], strict=True)})
    plain = regress.run(assay["embeddings"], assay["metadata"], regress.Options(n_jobs=1, append=assay["contacts"]))
    scaled = regress.run(assay["embeddings"], assay["metadata"], regress.Options(n_jobs=1, append=rescaled))
    np.testing.assert_allclose(scaled["R2_score_test"], plain["R2_score_test"], atol=1e-4)
    assert set(scaled["Compression_method"]) == {"mean+contact_order"}


def test_append_and_augment_label_in_column_order(assay, tmp_path):
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"ID": assay["ids"], "score": assay["target"]}).to_csv(scores, index=False)
    options = regress.Options(n_jobs=1, append=assay["contacts"], augment=scores)
    assert regress.features_label(assay["embeddings"], options) == "mean+contact_summary+score"
    metadata = regress.read_metadata(assay["metadata"])
    table = regress.joined_table(metadata, regress.load_compressed(assay["embeddings"]),
                                 regress.read_scores(scores), "toy", options, 0.0,
                                 regress.read_feature_files(options))
    np.testing.assert_allclose(table.features, np.column_stack([assay["embedding"], assay["contact"],
                                                                assay["target"]]), rtol=1e-6)


# ----------------------------------------------------------------------------- --stack


@pytest.fixture
def table(assay):
    features = np.column_stack([assay["embedding"], assay["contact"]])
    return Table(pd.DataFrame({"ID": assay["ids"], "target": assay["target"]}), features, stacked_columns=2)


def recording_fits(monkeypatch):
    """Wrap stacking.fit_first_level: log each fit's training rows and the rows its predictor is asked for."""
    log = []
    real = stacking.fit_first_level

    def fit(X, y, train, options, positions):
        entry = {"train": set(train.tolist()), "predicted": set()}
        log.append(entry)
        model, predict = real(X, y, train, options, positions)

        def recorded(rows):
            entry["predicted"] |= set(rows.tolist())
            return predict(rows)

        return model, recorded

    monkeypatch.setattr(stacking, "fit_first_level", fit)
    second_inputs = []
    real_second = stacking.fit_second_level

    def second(predictions, y):
        second_inputs.append((len(log), predictions.copy(), y.copy()))
        return real_second(predictions, y)

    monkeypatch.setattr(stacking, "fit_second_level", second)
    return log, second_inputs


def test_no_first_level_model_behind_a_second_level_input_saw_the_test_fold(table, monkeypatch):
    log, second_inputs = recording_fits(monkeypatch)
    results, predictions = stacking.cross_validate_stacked(table, OPTIONS)
    folds = regress.outer_split(table.metadata, "random", "toy")[1]
    assert len(second_inputs) == len(folds) == len(results) == 5
    inner_per_fold = 5 * 2  # 5 inner folds x 2 models, then 2 refits
    for index, (train, test) in enumerate(folds):
        train_set, test_set = set(train.tolist()), set(test.tolist())
        start = index * (inner_per_fold + 2)
        inner, refits = log[start:start + inner_per_fold], log[start + inner_per_fold:start + inner_per_fold + 2]
        assert second_inputs[index][0] == start + inner_per_fold  # the second level is fitted after the inner fits
        for entry in inner:  # the models whose predictions the second level is fitted on
            assert not entry["train"] & test_set, "a first-level model behind the second level saw a test row"
            assert not entry["train"] & entry["predicted"], "an out-of-fold prediction by a model trained on its row"
            assert entry["predicted"] <= train_set
        for model in range(2):  # each training row is predicted once per model, by the inner fits
            assert sorted(row for entry in inner[model::2] for row in entry["predicted"]) == sorted(train_set)
        assert len(second_inputs[index][1]) == len(train)
        np.testing.assert_array_equal(second_inputs[index][2], table.target[train])
        for entry in refits:  # the test fold is predicted by models refitted on its training rows alone
            assert entry["train"] == train_set and test_set <= entry["predicted"]
    assert sorted(predictions["ID"]) == sorted(table.metadata["ID"])


def memorising_fit(width, leak=False):
    """A first-level fit that memorises: exact on its training rows, their mean elsewhere (for ``width`` columns);
    the real fit for the other block."""
    real = stacking.fit_first_level

    def fit(X, y, train, options, positions):
        if X.shape[1] != width:
            return real(X, y, train, options, positions)
        known = dict(zip(train.tolist(), y[train], strict=True))
        mean = float(np.mean(y[train]))
        predict = lambda rows: np.array([known.get(row, mean) for row in rows.tolist()])  # noqa: E731
        return regress.Fit(predict, num_nonzero_coefs=len(train), alpha=0.0, fit_seconds=0.0), predict

    return fit


def leaky_out_of_fold(blocks, y, train, options, positions):
    """What a leak would be: the second level fitted on in-sample predictions of models trained on all rows."""
    columns = [stacking.fit_first_level(X, y, train, options, positions)[1](train) for X in blocks]
    return np.column_stack(columns), []


def test_a_memorising_model_gets_no_weight_because_its_inputs_are_out_of_fold(assay, monkeypatch):
    rng = np.random.default_rng(1)
    informative = assay["target"][:, None] + rng.normal(scale=0.3, size=(ROWS, 1))
    identity = np.eye(ROWS)  # one column per row: nothing to learn beyond the rows it saw
    table = Table(pd.DataFrame({"ID": assay["ids"], "target": assay["target"]}),
                  np.column_stack([informative, identity]), stacked_columns=ROWS)
    monkeypatch.setattr(stacking, "fit_first_level", memorising_fit(ROWS))
    honest = stacking.cross_validate_stacked(table, OPTIONS)[0]
    assert (honest["stack_weight_stacked"] < 0.05).all()
    assert (honest["stack_weight_input"] > 0.8).all()
    assert honest["R2_score_test"].mean() > 0.5
    # the same data with in-sample first-level predictions: the memoriser takes the weight and the test R2 falls
    monkeypatch.setattr(stacking, "out_of_fold", leaky_out_of_fold)
    leaky = stacking.cross_validate_stacked(table, OPTIONS)[0]
    assert (leaky["stack_weight_stacked"] > 0.9).all()
    assert leaky["R2_score_test"].mean() < honest["R2_score_test"].mean() - 0.3


def test_stacking_through_the_cli_names_itself_in_the_method(assay, tmp_path, capsys):
    output = tmp_path / "TOY_mean+stacked-contact_summary.csv"
    assert regress_main(["-i", str(assay["embeddings"]), "-m", str(assay["metadata"]), "-o", str(output),
                         "--stack", str(assay["contacts"]), "--jobs", "1", "--quiet"]) == 0
    results = pd.read_csv(output)
    assert len(results) == 5
    assert set(results["Compression_method"]) == {"mean+stacked-contact_summary"}
    assert set(results["Protocol"]) == {"study"}
    assert (results[stacking.WEIGHT_COLUMNS[:2]] >= 0).all().all()
    assert results["alpha"].isna().all()
    # both feature sets carry signal here: stacking beats the embedding alone on the same folds
    alone = regress.run(assay["embeddings"], assay["metadata"], OPTIONS)
    assert results["R2_score_test"].mean() > alone["R2_score_test"].mean()


def test_a_missing_feature_file_is_a_one_line_error(assay, tmp_path):
    with pytest.raises(UserError, match="--stack feature file not found"):
        regress_main(["-i", str(assay["embeddings"]), "-m", str(assay["metadata"]), "-o", str(tmp_path / "x.csv"),
                      "--stack", str(tmp_path / "absent.pkl")])


def test_stacking_needs_an_inner_k_fold(table):
    with pytest.raises(UserError, match="--stack needs an inner K-fold"):
        stacking.cross_validate_stacked(table, regress.Options(n_jobs=1, inner_cv="validation"))
