"""The language-model head of fair-esm checkpoints (ESM-2, ESM-1b, ESM-1v) for zero-shot scoring.

Runs fair-esm's own forward (``model(tokens)["logits"]``, as the variant-prediction example of
Meier et al. 2021 does) on ``BOS + residues + EOS`` with chosen positions replaced by
``<mask>``, and returns the log-softmax over the whole vocabulary at the residue positions,
restricted to the columns of the residue letters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from plmtransfer.backends.base import LoadOptions, device_and_dtype
from plmtransfer.backends.esm.featuriser import ESM_RESIDUES, load_model
from plmtransfer.errors import UserError
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH, MASKED_LM_SCORINGS
from plmtransfer.registry import ModelSpec

SPECIAL_POSITIONS = 2


class EsmHead:
    """What every ESM language-model head offers, whichever library runs it (fair-esm, transformers)."""

    letters = ESM_RESIDUES
    can_mask = True
    scorings = MASKED_LM_SCORINGS
    toks_per_batch = DEFAULT_TOKS_PER_BATCH


class EsmLanguageModel(EsmHead):
    """A fair-esm model with its LM head on a device (float32)."""

    def __init__(self, location: str, spec: ModelSpec | None, options: LoadOptions):
        from esm.model.msa_transformer import MSATransformer

        loaded = load_model(location)
        if isinstance(loaded.model, MSATransformer):
            raise UserError(f"{location}: MSA Transformer models take alignments, not sequences")
        self.device, _ = device_and_dtype(LoadOptions(nogpu=options.nogpu))
        self.model = loaded.model.to(self.device).eval()
        self.alphabet = loaded.alphabet
        self.name = spec.alias if spec is not None else loaded.name
        self.identity = str(loaded.checkpoint)
        args = getattr(self.model, "args", None)
        max_positions = int(getattr(args, "max_positions", 1024)) if args is not None else 1024
        self.max_residues = max_positions - SPECIAL_POSITIONS
        self.columns = torch.tensor([self.alphabet.get_idx(letter) for letter in self.letters],
                                    device=self.device)

    def tokens(self, sequences: Sequence[str], masked: Sequence[Sequence[int]]) -> torch.Tensor:
        """BOS + residues + EOS per sequence, with the ``masked`` residue positions set to ``<mask>``."""
        converter = self.alphabet.get_batch_converter()
        _, _, tokens = converter([(str(i), sequence) for i, sequence in enumerate(sequences)])
        for row, positions in enumerate(masked):
            if len(positions):
                tokens[row, [1 + position for position in positions]] = self.alphabet.mask_idx
        return tokens

    def log_probs(self, sequences: Sequence[str], masked: Sequence[Sequence[int]]) -> np.ndarray:
        """``B x L x 25`` log-probabilities of the residue letters (see the interface)."""
        length = len(sequences[0])
        if any(len(sequence) != length for sequence in sequences):
            raise ValueError("log_probs takes sequences of one length")
        tokens = self.tokens(sequences, masked).to(self.device)
        with torch.inference_mode():
            logits = self.model(tokens)["logits"]
            log_probs = torch.log_softmax(logits.float(), dim=-1)[:, 1:length + 1]
            return log_probs.index_select(-1, self.columns).cpu().numpy()


def load_language_model(location: str, spec: ModelSpec | None, options: LoadOptions) -> EsmLanguageModel:
    """A fair-esm checkpoint (registry name, alias or local ``.pt``) with its LM head."""
    return EsmLanguageModel(location, spec, options)
