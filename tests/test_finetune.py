"""Regression fine-tuning: the regression stage's folds, the CSV contract, checkpoints and resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from plmtransfer.errors import UserError
from plmtransfer.io import save_compressed
from plmtransfer.learn import features, finetune, regress, trainable
from plmtransfer.learn.trainable import TrainSettings

WILD_TYPE = "MKTAYIAKQRQISFVKSHFSRQ"
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture(scope="module")
def assay(tmp_path_factory):
    """A 30-row assay of single mutants (one double, one WT row), with ID, mutant, target, sequence."""
    rng = np.random.default_rng(1)
    rows = []
    for index in range(28):
        position = int(rng.integers(len(WILD_TYPE)))
        letter = LETTERS[int(rng.integers(20))]
        sequence = WILD_TYPE[:position] + letter + WILD_TYPE[position + 1:]
        rows.append((f"v{index}", f"{WILD_TYPE[position]}{position + 1}{letter}", position / 10 + rng.normal(),
                     sequence))
    rows.append(("double", "M1A:K2C", 0.5, "AC" + WILD_TYPE[2:]))
    rows.append(("wt", "WT", 1.0, WILD_TYPE))
    path = tmp_path_factory.mktemp("assay") / "assay_metadata.csv"
    pd.DataFrame(rows, columns=["ID", "mutant", "target", "sequence"]).to_csv(path, index=False)
    return path


def quick(**changes) -> TrainSettings:
    """Small settings that train the last block of the tiny model in a few batches."""
    values = dict(batch_size=8, num_epochs=3, unfreeze_last_k_layers=1, learning_rate=1e-3, seed=3)
    values.update(changes)
    return TrainSettings(**values)


def lasso_test_ids(metadata_path, cv, tmp_path):
    """Test IDs per fold of the LassoCV stage on the same metadata (embeddings for every ID)."""
    metadata = features.clean_targets(features.read_metadata(metadata_path), str(metadata_path))
    rng = np.random.default_rng(0)
    embeddings = {label: rng.normal(size=4) for label in metadata["ID"]}
    save_compressed(embeddings, tmp_path / "embed_layer_2_mean.pkl")
    table = features.join(metadata, embeddings, "x")
    rows, folds = regress.outer_split(table.metadata, cv, "x")
    ids = table.metadata["ID"].to_numpy()[rows]
    return [sorted(ids[test]) for _, test in folds]


@pytest.mark.parametrize("cv", ["random", "modulo"])
def test_test_ids_per_fold_are_the_lassocv_ones(assay, tiny_model, tmp_path, one_torch_thread, cv):
    results, predictions = finetune.run(assay, str(tiny_model), quick(num_epochs=1), finetune.FoldPlan(cv=cv),
                                        tmp_path / "checkpoints")
    expected = lasso_test_ids(assay, cv, tmp_path)
    found = [sorted(predictions.loc[predictions["Fold"] == fold, "ID"]) for fold in range(1, 6)]
    assert found == expected
    if cv == "modulo":
        assert "double" not in set(predictions["ID"]) and "wt" not in set(predictions["ID"])
    assert list(results.columns[:len(regress.RESULT_COLUMNS)]) == regress.RESULT_COLUMNS
    assert set(results["Model"]) == {"finetune-last1"}
    assert set(results["Compression_method"]) == {"finetune-last1"}
    assert list(results["Fold"]) == [1, 2, 3, 4, 5]
    # the test metrics are those of the written predictions
    fold1 = predictions[predictions["Fold"] == 1]
    assert results["R2_score_test"].iloc[0] == pytest.approx(
        regress.score(fold1["target"], fold1["prediction"])["R2"])


def test_predefined_fold_column_gives_the_columns_folds(assay, tiny_model, tmp_path, one_torch_thread):
    """finetune.py --cv predefined --fold-column COLUMN: fold k tests on the rows with the k-th smallest value."""
    from plmtransfer.cli import finetune as finetune_cli

    metadata = pd.read_csv(assay)
    metadata["my_folds"] = [(30, 10, 20)[index % 3] for index in range(len(metadata))]
    path = tmp_path / "folds_metadata.csv"
    metadata.to_csv(path, index=False)
    predictions_path = tmp_path / "predictions.csv"
    assert finetune_cli.main(["-m", str(path), "--base_model", str(tiny_model), "-o", str(tmp_path / "out.csv"),
                              "--cv", "predefined", "--fold-column", "my_folds", "--unfreeze_last_k_layers", "1",
                              "--num_epochs", "1", "--batch_size", "8", "--quiet",
                              "--predictions", str(predictions_path)]) == 0
    predictions = pd.read_csv(predictions_path)
    found = [sorted(predictions.loc[predictions["Fold"] == fold, "ID"]) for fold in (1, 2, 3)]
    assert found == [sorted(metadata.loc[metadata["my_folds"] == value, "ID"]) for value in (10, 20, 30)]
    assert list(pd.read_csv(tmp_path / "out.csv")["Fold"]) == [1, 2, 3]
    with pytest.raises(UserError, match="--fold-column my_folds needs --cv predefined"):
        finetune.FoldPlan(cv="random", fold_column="my_folds").check()


def test_killed_and_resumed_equals_uninterrupted(assay, tiny_model, tmp_path, one_torch_thread, monkeypatch):
    settings = quick(dropout=0.2)
    plan = finetune.FoldPlan(patience=5)
    whole, whole_predictions = finetune.run(assay, str(tiny_model), settings, plan, tmp_path / "whole")

    saves = []
    real_save = finetune.save_checkpoint

    def save_then_die(state, path):
        real_save(state, path)
        saves.append(path)
        if len(saves) == 6:  # fold 1: 3 epochs + the finished fold; then fold 2 after its second epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(finetune, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        finetune.run(assay, str(tiny_model), settings, plan, tmp_path / "killed")
    monkeypatch.setattr(finetune, "save_checkpoint", real_save)
    partial = trainable.load_checkpoint(tmp_path / "killed" / "fold2.pt")
    assert partial["epoch"] == 2 and not partial["finished"]
    resumed, resumed_predictions = finetune.run(assay, str(tiny_model), settings, plan, tmp_path / "killed",
                                                resume=True)

    pd.testing.assert_frame_equal(whole.drop(columns="fit_seconds"), resumed.drop(columns="fit_seconds"))
    pd.testing.assert_frame_equal(whole_predictions, resumed_predictions)
    for fold in range(1, 6):
        a = trainable.load_checkpoint(tmp_path / "whole" / f"fold{fold}.pt")
        b = trainable.load_checkpoint(tmp_path / "killed" / f"fold{fold}.pt")
        assert a["epoch"] == b["epoch"] == 3
        assert a["history"] == b["history"]
        for name, value in a["best"].items():
            torch.testing.assert_close(value, b["best"][name], rtol=0, atol=0)


def test_resume_refuses_a_checkpoint_of_other_settings(assay, tiny_model, tmp_path, one_torch_thread):
    finetune.run(assay, str(tiny_model), quick(num_epochs=1), finetune.FoldPlan(), tmp_path / "run")
    with pytest.raises(UserError, match="other settings"):
        finetune.run(assay, str(tiny_model), quick(num_epochs=1, learning_rate=0.5), finetune.FoldPlan(),
                     tmp_path / "run", resume=True)


def test_what_learns_in_each_mode(tiny_model):
    head, _ = trainable.build_predictor(str(tiny_model), 1, TrainSettings())
    learning = {name for name, p in head.named_parameters() if p.requires_grad}
    assert learning == {name for name, _ in head.head.named_parameters(prefix="head")}
    last, _ = trainable.build_predictor(str(tiny_model), 1, TrainSettings(unfreeze_last_k_layers=1))
    learning = {name for name, p in last.named_parameters() if p.requires_grad}
    assert any(name.startswith("encoder.model.layers.1.") for name in learning)
    assert "encoder.model.emb_layer_norm_after.weight" in learning
    assert not any(name.startswith("encoder.model.layers.0.") for name in learning)
    full, _ = trainable.build_predictor(str(tiny_model), 1, TrainSettings(unfreeze_last_k_layers=2))
    assert trainable.count_trainable(full) == sum(p.numel() for p in full.parameters())
    assert TrainSettings(unfreeze_last_k_layers=2).mode(2) == "full"
    assert TrainSettings(lora=8).mode(2) == "lora8"
    assert TrainSettings().mode(2) == "head"


def test_lora_trains_adapters_only_and_starts_as_the_base_model(tiny_model, one_torch_thread):
    pytest.importorskip("peft")
    settings = TrainSettings(lora=4, dropout=0.0)
    lora, _ = trainable.build_predictor(str(tiny_model), 1, settings)
    plain, _ = trainable.build_predictor(str(tiny_model), 1, TrainSettings(dropout=0.0))
    learning = [name for name, p in lora.named_parameters() if p.requires_grad]
    encoder_learning = [name for name in learning if name.startswith("encoder.")]
    assert encoder_learning and all("lora_" in name for name in encoder_learning)
    assert sum("q_proj.lora_A" in name for name in encoder_learning) == 2  # one per layer
    tokens = lora.encoder.tokenise(["MKTAYIAK", "MKT"])
    # LoRA's B starts at zero: before training the adapted model computes the base model's output
    torch.testing.assert_close(lora.eval()(tokens), plain.eval()(tokens))


def test_hugging_face_names_resolve_through_the_registry(monkeypatch, tiny_model):
    seen = []
    monkeypatch.setitem(trainable.ENCODERS, "esm", lambda location: seen.append(location) or "encoder")
    encoder, name = trainable.load_encoder("facebook/esm2_t6_8M_UR50D")
    assert seen == ["esm2_t6_8M_UR50D"] and name == "esm2_t6_8M_UR50D"
    encoder, name = trainable.load_encoder(str(tiny_model))
    assert seen[-1] == str(tiny_model) and name == "esm2_t2_tiny_random"


def test_bad_options_are_one_line_errors():
    with pytest.raises(UserError, match="--lora"):
        TrainSettings(lora=4, unfreeze_last_k_layers=1).check()
    with pytest.raises(UserError, match="--dropout"):
        TrainSettings(dropout=1.0).check()
    with pytest.raises(UserError, match="--patience"):
        finetune.FoldPlan(patience=0).check()


def test_unirep_encoder_pools_the_backends_last_layer(one_torch_thread):
    pytest.importorskip("plmtransfer.backends.unirep", reason="the UniRep backend is not in this checkout")
    from plmtransfer.backends import load_featuriser
    from plmtransfer.backends.base import LoadOptions
    from plmtransfer.backends.unirep.encoder import UnirepEncoder

    sequences = ["MKTAYIAKQRQISFVKSHFSRQ", "MSHHWGYGKHNGPEHW"]
    encoder, name = trainable.load_encoder("unirep64")
    assert name == "unirep_64" and isinstance(encoder, UnirepEncoder) and encoder.num_layers == 4
    embedded = load_featuriser("unirep_64", LoadOptions(nogpu=True)).embed(sequences, [4], False)
    expected = torch.stack([item.representations[4].mean(0) for item in embedded])
    with torch.no_grad():
        torch.testing.assert_close(encoder(encoder.tokenise(sequences)), expected, rtol=0, atol=1e-5)
    with pytest.raises(UserError, match="--lora applies to the transformer"):
        trainable.build_predictor("unirep_64", 1, TrainSettings(lora=4))
    last, _ = trainable.build_predictor("unirep_64", 1, TrainSettings(unfreeze_last_k_layers=1))
    learning = {name for name, p in last.named_parameters() if p.requires_grad}
    assert {"encoder.cells.3.wx", "encoder.cells.3.wmh"} <= learning and "encoder.cells.2.wx" not in learning
