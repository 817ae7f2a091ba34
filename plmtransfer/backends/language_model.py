"""The language-model interfaces: what zero-shot scoring needs from a model's own head.

Two kinds of head, one interface each:

- a *masked* language model (:class:`LanguageModel`; ESM) gives, for a batch of sequences in
  which some positions may be masked, the log-probability of every residue letter at every
  position (log-softmax over the model's whole vocabulary, then the columns of the residue
  letters);
- a *left-to-right* language model (:class:`CausalLanguageModel`; UniRep) gives the
  log-likelihood ratio ``log p(v) - log p(w)`` of whole sequences against a wild type, from
  its next-residue head.

Each model lists the scorings its head serves (``scorings``: the masked or the causal ones of
:mod:`plmtransfer.options`). Zero-shot scoring (:mod:`plmtransfer.learn.zero_shot`) talks only to
these interfaces; each family with a usable head implements one in its folder
(``plmtransfer/backends/<family>/language_model.py``) and names that module in its registration
(:attr:`plmtransfer.backends.Family.language_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from plmtransfer.backends import family, language_model_backends, resolve_backend
from plmtransfer.backends.base import LoadOptions
from plmtransfer.errors import UserError


@runtime_checkable
class LanguageModel(Protocol):
    """A model with its language-model head, ready to score sequences.

    Attributes
    ----------
    name : str
        Registry alias, or the checkpoint's stem for a local file (labels outputs).
    identity : str
        What identifies the weights (the checkpoint path).
    letters : str
        The residue letters whose log-probabilities :meth:`log_probs` returns, in column order.
    max_residues : int
        Longest window of residues the model reads in one pass.
    can_mask : bool
        True when the model has a mask token (masked marginals, pseudo-likelihood).
    scorings : tuple of str
        The scorings it serves (:data:`plmtransfer.options.MASKED_LM_SCORINGS`).
    toks_per_batch : int
        Default tokens per forward batch.
    """

    name: str
    identity: str
    letters: str
    max_residues: int
    can_mask: bool
    scorings: tuple[str, ...]
    toks_per_batch: int

    def log_probs(self, sequences: Sequence[str], masked: Sequence[Sequence[int]]) -> np.ndarray:
        """``B x L x len(letters)`` log-probabilities (float32) for equal-length ``sequences``,
        with the zero-based positions ``masked[b]`` of sequence ``b`` replaced by the mask token."""


@runtime_checkable
class CausalLanguageModel(Protocol):
    """A left-to-right model with its next-residue head, ready to score sequences.

    Attributes
    ----------
    name, identity : str
        As for :class:`LanguageModel`.
    scorings : tuple of str
        The scorings it serves (:data:`plmtransfer.options.CAUSAL_LM_SCORINGS`).
    toks_per_batch : int
        Default number of new recurrent states per batch (what fits its memory budget).
    """

    name: str
    identity: str
    scorings: tuple[str, ...]
    toks_per_batch: int

    def log_likelihood_ratios(self, wildtype: str, sequences: Sequence[str], toks_per_batch: int,
                              progress: Callable | None = None) -> tuple[np.ndarray, int]:
        """``log p(s) - log p(wildtype)`` (float64) of each of ``sequences``, and the number of
        recurrent passes run; ``log p(s)`` sums, over the residues of ``s``, the log-softmax of
        the head's whole output at the state before the residue."""


def load_language_model(location: str, options: LoadOptions) -> LanguageModel | CausalLanguageModel:
    """The model at ``location`` with its language-model head, from the backend the registry names."""
    backend, spec = resolve_backend(location)
    if not family(backend).language_model:
        served = ", ".join(language_model_backends())
        raise UserError(f"model {location!r} ({backend} backend) has no language-model head for "
                        f"zero-shot scoring in this version (served: {served} models)")
    return family(backend).module("language_model").load_language_model(location, spec, options)
