"""Regression fine-tuning of a protein language model on one assay, in the study's outer folds.

The outer folds are the regression stage's own (:func:`plmtransfer.learn.regress.outer_split`: the
same rows and the same test rows in every fold for the same metadata, ``--cv`` and ``--fold-column``). Inside
each outer training part a validation share (``validation_fraction``, drawn from ``(seed,
fold)``) drives early stopping: training stops ``patience`` epochs after the last
improvement of the validation MSE, and the weights of the best epoch are scored. The
target is standardised on the rows that train (mean 0, SD 1) and predictions are mapped
back, so the loss scale does not depend on the assay's units.

Each fold writes ``fold<k>.pt`` in the checkpoint directory after every epoch, atomically:
the learning weights, the optimizer, the best epoch so far and, once the fold is done, its
result row and test predictions. ``resume=True`` reuses finished folds and continues an
unfinished one from its last epoch; since an epoch's random draws depend only on ``(seed,
epoch)`` the resumed run ends with the weights the uninterrupted run has.

The result is the regression stage's per-fold table (:data:`plmtransfer.learn.regress.RESULT_COLUMNS`)
with ``Model`` = ``finetune-<mode>`` (``head``, ``last<K>``, ``full``, ``lora<R>``), the number
of learning weights in ``num_nonzero_coefs``, ``alpha`` NaN (no penalty path) and the same
``Compression_method``, ``Dataset`` and ``Embedding_model`` labels, so ``scripts/stats.py``
compares frozen and fine-tuned models without change.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from plmtransfer.data.sequences import check_sequence, read_fasta
from plmtransfer.errors import UserError
from plmtransfer.learn import features, regress
from plmtransfer.learn.trainable import (
    Predictor,
    TrainSettings,
    build_predictor,
    count_trainable,
    load_checkpoint,
    load_trainable_state,
    make_optimizer,
    predict,
    run_epoch,
    save_checkpoint,
    trainable_state,
)

CHECKPOINT_FORMAT = "plmtransfer-finetune-regression-1"


@dataclass(frozen=True)
class FoldPlan:
    """What early stopping and the outer CV need: scheme, validation share, patience, and under
    ``cv="predefined"`` the metadata column numbering the outer folds (the regression stage's ``fold_column``)."""

    cv: str = "random"
    validation_fraction: float = 0.1
    patience: int = 3
    fold_column: str | None = None

    def check(self) -> None:
        """Error on values that cannot work."""
        regress.check_fold_column(self.cv, self.fold_column)
        if not 0 < self.validation_fraction < 1:
            raise UserError(f"--validation_fraction must be in (0, 1), got {self.validation_fraction}")
        if self.patience < 1:
            raise UserError(f"--patience must be at least 1, got {self.patience}")


def read_assay(metadata_path: str | Path, fasta_path: str | Path | None = None) -> pd.DataFrame:
    """Metadata rows with a usable target and their sequences (``sequence`` column or ``--fasta``)."""
    metadata = features.clean_targets(features.read_metadata(metadata_path), str(metadata_path))
    if fasta_path is not None:
        sequences = {record.label: record.sequence for record in read_fasta(fasta_path)}
        missing = ~metadata["ID"].isin(sequences.keys())
        if missing.any():
            raise UserError(f"{fasta_path}: no sequence for {int(missing.sum())} metadata ID(s), e.g. "
                            f"{list(metadata['ID'][missing][:3])}")
        metadata["sequence"] = metadata["ID"].map(sequences)
    elif "sequence" not in metadata.columns:
        raise UserError(f"{metadata_path}: no 'sequence' column; pass the sequences with --fasta")
    metadata["sequence"] = [check_sequence(str(sequence), f"{metadata_path}: ID {label!r}")
                            for label, sequence in zip(metadata["ID"], metadata["sequence"], strict=True)]
    return metadata.reset_index(drop=True)


def validation_rows(n_train: int, fraction: float, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (within a fold's training part) that train and that validate, drawn from ``(seed, fold)``."""
    order = np.random.default_rng([seed, fold]).permutation(n_train)
    n_validation = min(n_train - 2, max(1, round(fraction * n_train)))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def data_fingerprint(ids: list[str], target: np.ndarray) -> str:
    """A short hash of the rows (IDs and targets in order): a checkpoint belongs to one data set."""
    digest = hashlib.sha256()
    for label, value in zip(ids, target, strict=True):
        digest.update(f"{label}\t{value!r}\n".encode())
    return digest.hexdigest()[:16]


def run_configuration(base_model: str, settings: TrainSettings, plan: FoldPlan, fingerprint: str) -> dict:
    """What must match for a checkpoint to be resumed (the device may change)."""
    values = settings.as_dict()
    values.pop("device")
    return {"format": CHECKPOINT_FORMAT, "base_model": base_model, "settings": values,
            "cv": plan.cv, "fold_column": plan.fold_column, "validation_fraction": plan.validation_fraction,
            "patience": plan.patience,
            "data": fingerprint}


class FoldTrainer:
    """Trains, checkpoints and scores one outer fold."""

    def __init__(self, template: Predictor, sequences: list[str], target: np.ndarray, settings: TrainSettings,
                 plan: FoldPlan, configuration: dict, checkpoint_dir: Path):
        self.template = template
        self.sequences = sequences
        self.target = target
        self.settings = settings
        self.plan = plan
        self.configuration = configuration
        self.checkpoint_dir = checkpoint_dir

    def checkpoint(self, fold: int) -> Path:
        """The checkpoint file of outer fold ``fold``."""
        return self.checkpoint_dir / f"fold{fold}.pt"

    def read_progress(self, fold: int, resume: bool) -> dict | None:
        """The fold's saved state when resuming (checked against this run), else None."""
        path = self.checkpoint(fold)
        if not resume or not path.is_file():
            return None
        state = load_checkpoint(path)
        if state.get("configuration") != self.configuration:
            raise UserError(f"{path}: written by a run with other settings, base model or "
                            "data; resume with the same ones or remove the checkpoint directory")
        return state

    def run(self, fold: int, train: np.ndarray, test: np.ndarray, resume: bool) -> dict:
        """Train on ``train`` (with early stopping) and return the finished fold's state."""
        state = self.read_progress(fold, resume)
        if state is not None and state["finished"]:
            return state
        settings = self.settings
        fit, validation = (train[part] for part in validation_rows(
            len(train), self.plan.validation_fraction, settings.seed, fold))
        mean, sd = float(self.target[fit].mean()), float(self.target[fit].std()) or 1.0
        standardised = torch.tensor((self.target - mean) / sd, dtype=torch.float32)
        fit_sequences = [self.sequences[row] for row in fit]
        fit_target = standardised[fit]

        def loss_of(outputs: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
            return torch.nn.functional.mse_loss(outputs.squeeze(-1), fit_target[rows].to(outputs.device))

        model = copy.deepcopy(self.template)
        optimizer = make_optimizer(model, settings)
        if state is None:
            state = {"configuration": self.configuration, "base_model": self.configuration["base_model"],
                     "fold": fold, "epoch": 0, "best_epoch": 0,
                     "best_loss": math.inf, "best": trainable_state(model), "seconds": 0.0,
                     "history": [], "finished": False}
        else:
            load_trainable_state(model, state["trainable"], str(self.checkpoint(fold)))
            optimizer.load_state_dict(state["optimizer"])
        validation_sequences = [self.sequences[row] for row in validation]
        while not self.stopped(state):
            start = time.perf_counter()
            epoch = state["epoch"] + 1
            stats = run_epoch(model, fit_sequences, loss_of, optimizer, settings, epoch)
            predicted = predict(model, validation_sequences, settings).squeeze(-1)
            validation_loss = float(torch.mean((predicted - standardised[validation]) ** 2))
            if validation_loss < state["best_loss"]:
                state.update(best_loss=validation_loss, best_epoch=epoch, best=trainable_state(model))
            state["history"].append([epoch, stats.loss, validation_loss])
            state.update(epoch=epoch, trainable=trainable_state(model), optimizer=optimizer.state_dict(),
                         seconds=state["seconds"] + time.perf_counter() - start)
            save_checkpoint(state, self.checkpoint(fold))
        load_trainable_state(model, state["best"], str(self.checkpoint(fold)))
        outputs = predict(model, self.sequences, settings).squeeze(-1).double().numpy() * sd + mean
        state.update(finished=True, result=self.result_row(fold, model, outputs, train, test, state["seconds"]),
                     test_predictions=torch.tensor(outputs[test]))
        save_checkpoint(state, self.checkpoint(fold))
        return state

    def stopped(self, state: dict) -> bool:
        """True once the last epoch is done or ``patience`` epochs passed without improvement."""
        return (state["epoch"] >= self.settings.num_epochs
                or state["epoch"] - state["best_epoch"] >= self.plan.patience)

    def result_row(self, fold: int, model: Predictor, outputs: np.ndarray, train: np.ndarray,
                   test: np.ndarray, seconds: float) -> dict:
        """The regression stage's row for this fold (metrics on the outer train and test parts)."""
        train_scores = regress.score(self.target[train], outputs[train])
        test_scores = regress.score(self.target[test], outputs[test])
        return {"Model": f"finetune-{self.settings.mode(model.encoder.num_layers)}", "Fold": fold,
                **{f"{name}_score_train": value for name, value in train_scores.items() if name != "rho"},
                **{f"{name}_score_test": value for name, value in test_scores.items() if name != "rho"},
                "rho_score_train": train_scores["rho"], "rho_score_test": test_scores["rho"],
                "num_nonzero_coefs": count_trainable(model), "alpha": math.nan, "fit_seconds": seconds}


def run(metadata_path: str | Path, base_model: str, settings: TrainSettings, plan: FoldPlan,
        checkpoint_dir: str | Path, resume: bool = False, fasta_path: str | Path | None = None,
        dataset: str | None = None, embedding_model: str | None = None,
        progress: Callable | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fine-tune in every outer fold; return the per-fold results and the test predictions.

    The predictions table has one row per tested metadata row: ``ID``, ``Fold``, ``target``,
    ``prediction``.
    """
    settings.check()
    plan.check()
    source = str(metadata_path)
    metadata = read_assay(metadata_path, fasta_path)
    rows, folds = regress.outer_split(metadata, plan.cv, source, plan.fold_column)
    used = metadata.iloc[rows].reset_index(drop=True)
    target = used["target"].to_numpy(dtype=np.float64)
    template, base_name = build_predictor(base_model, 1, settings)
    mode = settings.mode(template.encoder.num_layers)
    configuration = run_configuration(base_name, settings, plan, data_fingerprint(list(used["ID"]), target))
    trainer = FoldTrainer(template, list(used["sequence"]), target, settings, plan, configuration,
                          Path(checkpoint_dir))
    results, predictions = [], []
    fold_numbers = range(1, len(folds) + 1)
    for fold, (train, test) in zip(progress(fold_numbers) if progress else fold_numbers, folds, strict=True):
        state = trainer.run(fold, train, test, resume)
        results.append(state["result"])
        predictions.append(pd.DataFrame({"ID": used["ID"].to_numpy()[test], "Fold": fold,
                                         "target": target[test],
                                         "prediction": state["test_predictions"].numpy()}))
    frame = pd.DataFrame(results, columns=regress.RESULT_COLUMNS)
    labelled = regress.label_results(frame, f"finetune-{mode}", dataset, embedding_model or base_name)
    return labelled, pd.concat(predictions, ignore_index=True)
