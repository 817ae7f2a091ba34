"""Zero-shot variant-effect scores from a protein language model's own head (Meier et al. 2021).

For a DMS assay (metadata ``ID, mutant, target, sequence``) with wild type ``w`` and a variant
with substitutions ``{(i, w_i -> m_i)}`` (``T``: the set of mutated positions), the scorings are
those of Meier et al. 2021, "Language models enable zero-shot prediction of the effects of
mutations on protein function" (fair-esm's ``examples/variant-prediction``):

- ``masked-marginals``: mask all of ``T`` in the wild type in one pass, then
  ``sum_i log p(x_i = m_i | w with T masked) - log p(x_i = w_i | w with T masked)``.
  Cost: one pass per distinct set of mutated positions (= one per position for single mutants).
- ``wt-marginals``: one unmasked pass of the wild type for the whole assay;
  ``sum_i log p(x_i = m_i | w) - log p(x_i = w_i | w)``. Cost: one pass (for proteins longer
  than the model's window, one per distinct window: up to one per mutated position).
- ``mutant-marginals``: an unmasked pass of each variant ``v``;
  ``sum_i log p(x_i = m_i | v) - log p(x_i = w_i | v)``. Cost: one pass per variant.
- ``pseudo-ppl``: the pseudo-log-likelihood ``PLL(s) = sum_j log p(x_j = s_j | s with j masked)``
  (every position masked in turn); the score is ``PLL(v) - PLL(w)``. Cost: ``L`` passes per
  variant plus ``L`` for the wild type.

Those four need a masked language model (ESM). A left-to-right model (UniRep) serves

- ``llr``: the log-likelihood ratio ``log p(v) - log p(w)``, ``log p(s) = sum_i log p(s_i |
  s_1..s_{i-1})`` from its next-residue head (:mod:`plmtransfer.backends.unirep.language_model`). Cost: one
  pass of the wild type, then each variant from its first mutated position on.

Wild-type rows score 0 under every scoring. Long proteins: a model reads at most
``max_residues`` (1022 for ESM) residues. As in the scoring code that accompanies the ESM
papers in ProteinGym (``get_optimal_window``), each pass then reads a window of
``max_residues`` residues centred on the mutated positions (on the masked position for
pseudo-likelihoods), moved inwards at the ends of the sequence; the window gets the model's
own BOS/EOS tokens. A variant whose mutated positions span more than one window is an error.

Outputs (written atomically): ``<out>/<model>/<D>_<scoring>.csv`` with ``ID, mutant, score``
in metadata order, and ``<out>/<D>_summary.csv`` with one row per model and scoring
(``Dataset, Model, Scoring, n, spearman, offset, passes, seconds``): Spearman's rho between the
score and the target over the rows with a numeric target.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from plmtransfer import layout
from plmtransfer.data.mutants import (
    Substitution,
    Variants,
    apply_substitutions,
    check_variants,
    derive_wildtype,
    detect_offset,
    read_variants,
)
from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import CAUSAL_LM_SCORINGS, SCORING_COSTS, SCORINGS  # noqa: F401  (zero_shot.X)

SUMMARY_COLUMNS = ["Dataset", "Model", "Scoring", "n", "spearman", "offset", "passes", "seconds"]


@dataclass(frozen=True)
class Pass:
    """One forward pass: a window of residues, the positions masked in it, the rows to keep
    (positions in the window, sorted, so that equal passes compare equal)."""

    sequence: str
    masked: tuple[int, ...]
    keep: tuple[int, ...]


@dataclass
class Assay:
    """An assay ready to score: its variants, wild type and the mutant numbering offset in use."""

    name: str
    variants: Variants
    wildtype: str
    offset: int

    def indices(self, row: int) -> tuple[list[int], list[Substitution]]:
        """Zero-based wild-type indices of a row's substitutions, and the substitutions."""
        substitutions = list(self.variants.substitutions[row])
        return [substitution.index(self.offset) for substitution in substitutions], substitutions


def dataset_name(path: str | Path) -> str:
    """The assay name of a metadata file: ``<D>_metadata.csv`` or ``<D>.csv(.gz)`` -> ``<D>``."""
    return layout.dataset_of_metadata(path)


def wildtype_file(metadata_path: str | Path) -> Path:
    """Where data preparation records an assay's wild type: beside its metadata."""
    return layout.wildtype_beside(metadata_path)


def resolve_offset(variants: Variants, wildtype: str | None, requested: str) -> int:
    """The offset to apply: ``requested`` as a number, or the detected one for ``auto``."""
    if requested != "auto":
        try:
            return int(requested)
        except ValueError:
            raise UserError(f"--offset must be an integer or 'auto', got {requested!r}") from None
    found = detect_offset(variants, wildtype)
    if found is None:
        raise UserError(f"{variants.source}: no constant offset between -50 and 50 makes every mutant "
                        "agree with the sequences")
    return found


def load_assay(metadata_path: str | Path, wildtype_path: str | Path | None = None,
               offset: str = "0") -> Assay:
    """Read the variants and the wild type; apply and check the offset; check every variant.

    The wild type is read from ``wildtype_path`` (default: the ``<D>_wildtype.fasta`` that data
    preparation writes beside the metadata) or, when that file does not exist, derived from the
    variants. Any inconsistency is one :class:`UserError` naming the row.
    """
    variants = read_variants(metadata_path)
    recorded = Path(wildtype_path) if wildtype_path is not None else wildtype_file(metadata_path)
    if recorded.is_file():
        wildtype = read_fasta(recorded)[0].sequence
    elif wildtype_path is not None:
        raise UserError(f"{recorded}: wild-type FASTA not found")
    else:
        wildtype = derive_wildtype(variants, resolve_offset(variants, None, offset))
    applied = resolve_offset(variants, wildtype, offset)
    check_variants(variants, wildtype, applied)
    return Assay(dataset_name(metadata_path), variants, wildtype, applied)


def window(length: int, positions: Sequence[int], size: int) -> tuple[int, int]:
    """``[start, end)`` of the ``size``-residue window that a pass over ``positions`` reads.

    The whole sequence when it fits; else centred on the middle of ``positions`` and moved
    inwards at the ends (ProteinGym's ``get_optimal_window`` on residue coordinates).
    """
    if length <= size:
        return 0, length
    low, high = min(positions), max(positions)
    if high - low >= size:
        raise UserError(f"mutated positions {low + 1} and {high + 1} are further apart than the "
                        f"model's window of {size} residues")
    start = min(max((low + high) // 2 - size // 2, 0), length - size)
    return start, start + size


def run_passes(model, passes: Iterable[Pass], toks_per_batch: int,
               progress: Callable | None = None) -> dict[Pass, np.ndarray]:
    """Run each distinct pass once, batching equal lengths; ``{pass: log_probs[keep]}``."""
    distinct = sorted(dict.fromkeys(passes), key=lambda item: len(item.sequence))
    batches, current = [], []
    for item in distinct:
        if current and (len(current[0].sequence) != len(item.sequence)
                        or (len(current) + 1) * (len(item.sequence) + 2) > toks_per_batch):
            batches.append(current)
            current = []
        current.append(item)
    if current:
        batches.append(current)
    results = {}
    for batch in progress(batches) if progress else batches:
        log_probs = model.log_probs([item.sequence for item in batch], [item.masked for item in batch])
        for item, matrix in zip(batch, log_probs, strict=True):
            results[item] = matrix[list(item.keep)].astype(np.float64)
    return results


def letter_columns(model, letters: Iterable[str]) -> dict[str, int]:
    """Column of each letter in the model's log-probabilities; error for letters it lacks."""
    columns = {}
    for letter in set(letters):
        if letter not in model.letters:
            raise UserError(f"model {model.name} has no token for residue {letter!r}")
        columns[letter] = model.letters.index(letter)
    return columns


def marginal_passes(assay: Assay, size: int, scoring: str) -> list[Pass | None]:
    """The pass each row reads its log-probabilities from (None for wild-type rows)."""
    wildtype, passes = assay.wildtype, []
    for row in range(len(assay.variants.ids)):
        indices, substitutions = assay.indices(row)
        if not indices:
            passes.append(None)
            continue
        start, end = window(len(wildtype), indices, size)
        local = tuple(sorted(index - start for index in indices))
        if scoring == "masked-marginals":
            passes.append(Pass(wildtype[start:end], local, local))
        elif scoring == "wt-marginals":
            passes.append(Pass(wildtype[start:end], (), tuple(range(end - start))))
        else:
            mutant = apply_substitutions(wildtype, substitutions, assay.offset)
            passes.append(Pass(mutant[start:end], (), local))
    return passes


def marginal_scores(model, assay: Assay, scoring: str, toks_per_batch: int,
                    progress: Callable | None = None, size: int | None = None) -> tuple[np.ndarray, int]:
    """Masked, wild-type or mutant marginals of every row, and the number of passes run."""
    size = size or model.max_residues
    passes = marginal_passes(assay, size, scoring)
    letters = {letter for subs in assay.variants.substitutions for s in subs for letter in (s.wt, s.mt)}
    columns = letter_columns(model, letters)
    results = run_passes(model, [item for item in passes if item is not None], toks_per_batch, progress)
    scores = np.zeros(len(passes))
    for row, item in enumerate(passes):
        if item is None:
            continue
        indices, substitutions = assay.indices(row)
        matrix = results[item]
        start = window(len(assay.wildtype), indices, size)[0]
        for index, substitution in zip(indices, substitutions, strict=True):
            line = matrix[item.keep.index(index - start)]
            scores[row] += line[columns[substitution.mt]] - line[columns[substitution.wt]]
    return scores, len(results)


def pseudo_log_likelihood(model, sequence: str, toks_per_batch: int, size: int) -> float:
    """``sum_j log p(x_j = s_j | s with j masked)``, each position in its own window."""
    columns = letter_columns(model, sequence)
    passes = []
    for position in range(len(sequence)):
        start, end = window(len(sequence), [position], size)
        passes.append(Pass(sequence[start:end], (position - start,), (position - start,)))
    results = run_passes(model, passes, toks_per_batch)
    return float(sum(results[item][0, columns[letter]] for item, letter in zip(passes, sequence, strict=True)))


def pseudo_ppl_scores(model, assay: Assay, toks_per_batch: int, progress: Callable | None = None,
                      size: int | None = None) -> tuple[np.ndarray, int]:
    """``PLL(variant) - PLL(wild type)`` of every row, and the number of passes run."""
    size = size or model.max_residues
    reference = pseudo_log_likelihood(model, assay.wildtype, toks_per_batch, size)
    scores = np.zeros(len(assay.variants.ids))
    mutated = [row for row in range(len(scores)) if assay.variants.substitutions[row]]
    for row in progress(mutated) if progress else mutated:
        sequence = apply_substitutions(assay.wildtype, assay.variants.substitutions[row], assay.offset)
        scores[row] = pseudo_log_likelihood(model, sequence, toks_per_batch, size) - reference
    return scores, (len(mutated) + 1) * len(assay.wildtype)


def llr_scores(model, assay: Assay, toks_per_batch: int,
               progress: Callable | None = None) -> tuple[np.ndarray, int]:
    """``log p(variant) - log p(wild type)`` of every row from a left-to-right model; passes run."""
    sequences = [apply_substitutions(assay.wildtype, substitutions, assay.offset)
                 for substitutions in assay.variants.substitutions]
    return model.log_likelihood_ratios(assay.wildtype, sequences, toks_per_batch, progress)


def check_scorings(model, scorings: Iterable[str]) -> None:
    """One error line for a scoring that is unknown or that ``model``'s head does not serve."""
    for scoring in scorings:
        if scoring not in SCORINGS:
            raise UserError(f"unknown scoring {scoring!r}: use {', '.join(SCORINGS)}")
        if scoring not in model.scorings:
            kind = "a left-to-right" if scoring in CAUSAL_LM_SCORINGS else "a masked"
            raise UserError(f"--scoring {scoring} needs {kind} language model; model {model.name} "
                            f"serves {', '.join(model.scorings)}")
        if scoring in ("masked-marginals", "pseudo-ppl") and not model.can_mask:
            raise UserError(f"model {model.name} has no mask token: {scoring} needs one")


def score_assay(model, assay: Assay, scoring: str, toks_per_batch: int | None = None,
                progress: Callable | None = None, size: int | None = None) -> tuple[np.ndarray, int]:
    """Scores of every row of ``assay`` under ``scoring`` and the number of forward passes.

    ``toks_per_batch``: tokens (or, for a left-to-right model, new recurrent states) per batch;
    None takes the model's ``toks_per_batch``.
    """
    check_scorings(model, [scoring])
    toks_per_batch = toks_per_batch or model.toks_per_batch
    if scoring == "llr":
        return llr_scores(model, assay, toks_per_batch, progress)
    if scoring == "pseudo-ppl":
        return pseudo_ppl_scores(model, assay, toks_per_batch, progress, size)
    return marginal_scores(model, assay, scoring, toks_per_batch, progress, size)


def spearman(scores: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
    """Spearman's rho between scores and targets over rows with a finite target, and that count."""
    usable = np.isfinite(targets)
    if usable.sum() < 3 or np.ptp(scores[usable]) == 0:
        return float("nan"), int(usable.sum())
    return float(spearmanr(scores[usable], targets[usable])[0]), int(usable.sum())


def scores_path(out_dir: str | Path, model: str, dataset: str, scoring: str) -> Path:
    """``<out>/<model>/<D>_<scoring>.csv``."""
    return Path(out_dir) / model / layout.result_name(dataset, scoring)


def summary_path(out_dir: str | Path, dataset: str) -> Path:
    """``<out>/<D>_summary.csv``: one row per model and scoring."""
    return Path(out_dir) / f"{dataset}_summary.csv"


@contextlib.contextmanager
def locked(directory: Path):
    """Hold an exclusive lock on ``directory`` (runs of other models may update the same summary)."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def update_summary(path: Path, row: dict) -> pd.DataFrame:
    """Replace (or add) the summary row of ``row``'s model and scoring; write atomically."""
    with locked(path.parent):
        frame = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=SUMMARY_COLUMNS)
        keep = ~((frame["Model"].astype(str) == row["Model"]) & (frame["Scoring"] == row["Scoring"]))
        frame = pd.concat([frame[keep], pd.DataFrame([row], columns=SUMMARY_COLUMNS)], ignore_index=True)
        frame = frame.sort_values(["Model", "Scoring"], kind="stable").reset_index(drop=True)
        write_dataframe_csv(frame, path)
    return frame


def write_scores(assay: Assay, scores: np.ndarray, path: Path) -> None:
    """``ID, mutant, score`` in metadata order, atomically."""
    frame = pd.DataFrame({"ID": assay.variants.ids, "mutant": assay.variants.mutants, "score": scores})
    write_dataframe_csv(frame, path)


def run(model, assay: Assay, scoring: str, out_dir: str | Path, toks_per_batch: int | None = None,
        progress: Callable | None = None, overwrite: bool = False) -> dict:
    """Score ``assay`` (or reuse a finished scores file), write it and the summary row; return the row.

    A scores file already present is not recomputed unless ``overwrite``: sweeps resume.
    """
    path = scores_path(out_dir, model.name, assay.name, scoring)
    start = time.perf_counter()
    if path.is_file() and not overwrite:
        existing = pd.read_csv(path, dtype={"ID": str})
        if existing["ID"].tolist() != assay.variants.ids:
            raise UserError(f"{path}: exists but holds other IDs than {assay.variants.source}; "
                            "remove it or pass --overwrite")
        scores, passes = existing["score"].to_numpy(dtype=np.float64), 0
    else:
        scores, passes = score_assay(model, assay, scoring, toks_per_batch, progress)
        write_scores(assay, scores, path)
    rho, n = spearman(scores, assay.variants.targets)
    row = {"Dataset": assay.name, "Model": model.name, "Scoring": scoring, "n": n, "spearman": rho,
           "offset": assay.offset, "passes": passes, "seconds": round(time.perf_counter() - start, 3)}
    update_summary(summary_path(out_dir, assay.name), row)
    return row
