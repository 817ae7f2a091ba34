"""The GO-term function caller: a protein language model + two-layer multi-label head on CAFA 5 data.

Training (:func:`train`) reads CAFA 5's files from one directory (or its ``Train/``):
``train_sequences.fasta`` (header ``>EntryID ...``), ``train_terms.tsv`` and ``go-basic.obo``
(:mod:`plmtransfer.learn.go_terms`: aspect subset, propagation through ``is_a``/``part_of``). The
label vocabulary is every propagated term of the subset (roots excluded). Proteins are split
once into training and evaluation parts (``eval_ratio``, drawn from the seed). Sequences
longer than ``context_length`` tokens (residues + BOS + EOS) are cut to their first
``context_length - 2`` residues, with a warning giving the count.

Every ``eval_interval`` epochs the evaluation part is scored: the sigmoid outputs are made
consistent with the ontology (:func:`plmtransfer.learn.go_terms.consistent_scores`) and CAFA's
protein-centric Fmax (and the weighted Fmax, given an information-accretion file) is logged
to TensorBoard with the training loss and gradient norm. Every ``checkpoint_interval``
epochs (and after the last) the checkpoint is rewritten atomically: the learning weights,
optimizer, settings, base model, vocabulary, term names and the ontology's parent links
between them (for consistent scores at prediction time). ``resume`` continues from it.

:func:`load_caller` + :func:`rank` serve ``scripts/predict_rank.py``: the top-k terms of a
sequence with their probabilities and names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError
from plmtransfer.learn import go_terms
from plmtransfer.learn.trainable import (
    Predictor,
    TrainSettings,
    base_model_name,
    build_predictor,
    check_same_base,
    load_checkpoint,
    load_trainable_state,
    make_optimizer,
    predict,
    run_epoch,
    save_checkpoint,
    trainable_state,
)
from plmtransfer.options import CallerOptions  # noqa: F401  (re-exported: function_caller.CallerOptions)

CHECKPOINT_FORMAT = "plmtransfer-function-caller-1"
CAFA_FILES = ("train_sequences.fasta", "train_terms.tsv", "go-basic.obo")
SPECIAL_TOKENS = 2


def warn(message: str) -> None:
    """A warning line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class CafaData:
    """Proteins with sequences and propagated labels of one subset, and the label vocabulary."""

    entries: list[str]
    sequences: list[str]
    labels: list[set[str]]
    vocabulary: list[str]
    names: list[str]
    order: list[tuple[int, list[int]]]


def cafa_file(dataset_dir: str | Path, name: str) -> Path:
    """``dataset_dir/name`` or ``dataset_dir/Train/name`` (the Kaggle archive's layout)."""
    for candidate in (Path(dataset_dir) / name, Path(dataset_dir) / "Train" / name):
        if candidate.is_file():
            return candidate
    raise UserError(f"{dataset_dir}: no {name} (nor Train/{name}); CAFA 5's training data has "
                    f"{', '.join(CAFA_FILES)}")


def fit_context(sequences: Sequence[str], context_length: int, source: str) -> list[str]:
    """Sequences cut to ``context_length - 2`` residues, with one warning giving how many were cut."""
    if context_length <= SPECIAL_TOKENS:
        raise UserError(f"--context_length must exceed {SPECIAL_TOKENS} (BOS + EOS), got {context_length}")
    limit = context_length - SPECIAL_TOKENS
    cut = sum(len(sequence) > limit for sequence in sequences)
    if cut:
        warn(f"{source}: {cut} sequence(s) longer than --context_length {context_length} ({limit} residues + "
             f"BOS + EOS) are truncated to their first {limit} residues")
    return [sequence[:limit] for sequence in sequences]


def sequences_by_entry(fasta: Path) -> dict[str, str]:
    """``{EntryID: sequence}`` of CAFA's FASTA (the header's first word); a repeated EntryID is an error."""
    sequences: dict[str, str] = {}
    repeated: list[str] = []
    for record in read_fasta(fasta):
        entry = record.label.split()[0]
        if entry in sequences:
            repeated.append(entry)
        sequences[entry] = record.sequence
    if repeated:
        raise UserError(f"{fasta}: {len(repeated)} repeated EntryID(s), e.g. {repeated[0]!r}: each protein must "
                        "appear once (which of its sequences to train on is not for the caller to guess)")
    return sequences


def load_cafa(dataset_dir: str | Path, options: CallerOptions) -> CafaData:
    """Read, subset, propagate and join CAFA 5's training files; proteins in EntryID order."""
    ontology = go_terms.read_obo(cafa_file(dataset_dir, "go-basic.obo"))
    annotations = go_terms.read_annotations(cafa_file(dataset_dir, "train_terms.tsv"), ontology,
                                            options.dataset_subset)
    fasta = cafa_file(dataset_dir, "train_sequences.fasta")
    sequences = sequences_by_entry(fasta)
    entries = sorted(entry for entry in annotations if entry in sequences)
    if len(entries) < len(annotations):
        warn(f"{fasta}: {len(annotations) - len(entries)} annotated protein(s) have no sequence and are left out")
    unannotated = len(sequences) - len(entries)
    if unannotated:
        warn(f"{fasta}: {unannotated} sequence(s) have no annotation of --dataset_subset {options.dataset_subset} "
             "and are left out")
    if len(entries) < 2:
        raise UserError(f"{dataset_dir}: {len(entries)} protein(s) with a sequence and annotations of "
                        f"--dataset_subset {options.dataset_subset}; need at least 2 (training + evaluation)")
    labels = [annotations[entry] for entry in entries]
    vocabulary = sorted(set().union(*labels))
    return CafaData(entries, fit_context([sequences[entry] for entry in entries], options.context_length, str(fasta)),
                    labels, vocabulary, [ontology.terms[term].name for term in vocabulary],
                    go_terms.propagation_order(ontology, vocabulary))


def eval_split(n_proteins: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and evaluation protein indices: a ``ratio`` share (at least 1) drawn from ``seed``."""
    order = np.random.default_rng([seed, 0]).permutation(n_proteins)
    n_eval = min(n_proteins - 1, max(1, round(ratio * n_proteins)))
    return np.sort(order[n_eval:]), np.sort(order[:n_eval])


def resumable_settings(settings: TrainSettings) -> dict:
    """The settings a resumed run must share (the device and the number of epochs may change)."""
    values = settings.as_dict()
    values.pop("device")
    values.pop("num_epochs")
    return values


def evaluate(model: Predictor, data: CafaData, rows: np.ndarray, settings: TrainSettings,
             weights: np.ndarray | None) -> dict[str, float]:
    """Fmax (and weighted Fmax) of the consistent scores of ``rows``, and their mean BCE loss."""
    logits = predict(model, [data.sequences[row] for row in rows], settings)
    truth = go_terms.label_matrix([data.labels[row] for row in rows], data.vocabulary)
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(truth, dtype=torch.float32)))
    scores = go_terms.consistent_scores(torch.sigmoid(logits).numpy(), data.order)
    metrics = {"loss": loss, "fmax": go_terms.fmax(scores, truth).fmax}
    if weights is not None:
        metrics["weighted_fmax"] = go_terms.fmax(scores, truth, weights).fmax
    return metrics


def train(dataset_dir: str | Path, base_model: str, settings: TrainSettings, options: CallerOptions,
          checkpoint_path: str | Path, run_dir: str | Path, resume: bool = False,
          ia_path: str | Path | None = None, log: Callable[[str], None] = print) -> dict[str, float]:
    """Fine-tune the function caller (TensorBoard logs in ``run_dir``); return the last evaluation's metrics."""
    settings.check()
    options.check()
    checkpoint_path = Path(checkpoint_path)
    data = load_cafa(dataset_dir, options)
    base_name = base_model_name(base_model)
    if resume and not checkpoint_path.is_file():
        log(f"--resume: no checkpoint at {checkpoint_path} yet: starting a new run")
        resume = False
    state = load_checkpoint(checkpoint_path) if resume else None
    if state is not None:
        check_same_base(state, base_name, checkpoint_path)
        if state["vocabulary"] != data.vocabulary or state["settings_key"] != resumable_settings(settings):
            raise UserError(f"{checkpoint_path}: written with other data, subset or settings; resume with "
                            "the same ones or start a new checkpoint")
    weights = None
    if ia_path is not None:
        weights = go_terms.term_weights(data.vocabulary, go_terms.read_information_accretion(ia_path))
    model, _ = build_predictor(base_model, len(data.vocabulary), settings)
    optimizer = make_optimizer(model, settings)
    start = 0
    if state is not None:
        load_trainable_state(model, state["trainable"], str(checkpoint_path))
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"]
    train_rows, eval_rows = eval_split(len(data.entries), options.eval_ratio, settings.seed)
    train_sequences = [data.sequences[row] for row in train_rows]
    term_index = {term: j for j, term in enumerate(data.vocabulary)}
    targets = [[term_index[term] for term in data.labels[row]] for row in train_rows]

    def loss_of(outputs: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        dense = torch.zeros_like(outputs)
        for i, row in enumerate(rows):
            dense[i, targets[row]] = 1.0
        return torch.nn.functional.binary_cross_entropy_with_logits(outputs, dense)

    from torch.utils.tensorboard import SummaryWriter

    log(f"{len(train_rows)} training and {len(eval_rows)} evaluation proteins, {len(data.vocabulary)} GO terms "
        f"({options.dataset_subset}); base model {base_name}")
    metrics: dict[str, float] = {}
    with SummaryWriter(log_dir=str(run_dir)) as writer:
        for epoch in range(start + 1, settings.num_epochs + 1):
            stats = run_epoch(model, train_sequences, loss_of, optimizer, settings, epoch)
            writer.add_scalar("train/loss", stats.loss, epoch)
            writer.add_scalar("train/gradient_norm", stats.gradient_norm, epoch)
            message = f"epoch {epoch}: training loss {stats.loss:.4f}"
            if epoch % options.eval_interval == 0 or epoch == settings.num_epochs:
                metrics = evaluate(model, data, eval_rows, settings, weights)
                for name, value in metrics.items():
                    writer.add_scalar(f"eval/{name}", value, epoch)
                message += ", " + ", ".join(f"eval {name} {value:.4f}" for name, value in metrics.items())
            log(message)
            if epoch % options.checkpoint_interval == 0 or epoch == settings.num_epochs:
                save_checkpoint({"format": CHECKPOINT_FORMAT, "base_model": base_name, "base_location": base_model,
                                 "settings": settings.as_dict(), "settings_key": resumable_settings(settings),
                                 "options": {"dataset_subset": options.dataset_subset,
                                             "context_length": options.context_length},
                                 "vocabulary": data.vocabulary, "names": data.names, "order": data.order,
                                 "epoch": epoch,
                                 "trainable": trainable_state(model), "optimizer": optimizer.state_dict()},
                                checkpoint_path)
    return metrics


@dataclass
class Caller:
    """A trained function caller ready to rank terms."""

    model: Predictor
    settings: TrainSettings
    vocabulary: list[str]
    names: list[str]
    context_length: int
    order: list[tuple[int, list[int]]]


def load_caller(checkpoint_path: str | Path, base_model: str | None = None, device: str = "cpu") -> Caller:
    """Rebuild the model of a checkpoint (base weights from ``base_model`` or the recorded location)."""
    state = load_checkpoint(checkpoint_path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{checkpoint_path}: not a function-caller checkpoint (scripts/finetune_go.py writes them)")
    location = base_model or state["base_location"]
    check_same_base(state, base_model_name(location), checkpoint_path)
    settings = TrainSettings(**{**state["settings"], "device": device})
    model, _ = build_predictor(location, len(state["vocabulary"]), settings)
    load_trainable_state(model, state["trainable"], str(checkpoint_path))
    order = [(child, list(parents)) for child, parents in state["order"]]
    return Caller(model, settings, state["vocabulary"], state["names"], state["options"]["context_length"], order)


def rank(caller: Caller, sequences: Sequence[str], top_k: int,
         source: str = "input") -> list[list[tuple[float, str, str]]]:
    """The ``top_k`` terms of each sequence as ``(probability, GO id, name)``, most probable first.

    Ties are broken by GO id so that the order is stable.
    """
    if top_k < 1:
        raise UserError(f"--top_k must be at least 1, got {top_k}")
    fitted = fit_context(sequences, caller.context_length, source)
    probabilities = torch.sigmoid(predict(caller.model, fitted, caller.settings)).numpy().astype(np.float64)
    probabilities = go_terms.consistent_scores(probabilities, caller.order)
    ranked = []
    for row in probabilities:
        best = sorted(range(len(row)), key=lambda j: (-row[j], caller.vocabulary[j]))[:top_k]
        ranked.append([(float(row[j]), caller.vocabulary[j], caller.names[j]) for j in best])
    return ranked
