"""The language-model head of ESM checkpoints in the Hugging Face layout (``EsmForMaskedLM``).

The same masked-LM interface as :mod:`plmtransfer.backends.esm.language_model`, for a hub name or a local
directory (found by :func:`plmtransfer.backends.hf.featuriser.resolve_directory`): ``EsmForMaskedLM``'s
forward on ``<cls> + residues + <eos>`` with chosen positions replaced by ``<mask>`` (token
ids from the directory's ``vocab.txt``), log-softmax over the whole vocabulary at the residue
positions, restricted to the columns of the residue letters. On the same weights the scores
equal fair-esm's (tested on the random test model converted with
:func:`plmtransfer.backends.hf.featuriser.convert_esm2_checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from plmtransfer.backends.base import LoadOptions, device_and_dtype
from plmtransfer.backends.esm.language_model import EsmHead
from plmtransfer.backends.hf.featuriser import ESM_VOCAB, quiet_from_pretrained, resolve_directory
from plmtransfer.errors import UserError
from plmtransfer.registry import ModelSpec

SPECIAL_POSITIONS = 2
HF_POSITION_OFFSET = 2  # HF's ESM configs count positions from padding_idx + 1 (1026 for 1024)


class HfEsmLanguageModel(EsmHead):
    """A transformers ``EsmForMaskedLM`` on a device (float32)."""

    def __init__(self, directory: Path, spec: ModelSpec | None, options: LoadOptions):
        from transformers import AutoConfig, EsmForMaskedLM

        config = AutoConfig.from_pretrained(directory)
        if config.model_type != "esm" or getattr(config, "is_folding_model", False):
            raise UserError(f"{directory}: not an ESM language model in the Hugging Face layout "
                            f"(model_type {config.model_type!r})")
        # quietly: the load report lists the contact head the LM does not use
        model, info = quiet_from_pretrained(EsmForMaskedLM, directory, attn_implementation="eager",
                                            dtype=torch.float32)
        if any(key.startswith("lm_head") for key in info["missing_keys"]):
            raise UserError(f"{directory}: the weights have no language-model head (lm_head.*): "
                            "zero-shot scoring needs EsmForMaskedLM weights")
        self.device, _ = device_and_dtype(LoadOptions(nogpu=options.nogpu))
        self.model = model.to(self.device).eval()
        vocabulary_file = directory / "vocab.txt"
        vocabulary = vocabulary_file.read_text().split() if vocabulary_file.is_file() else ESM_VOCAB
        self.token_of = {token: index for index, token in enumerate(vocabulary)}
        self.name = spec.alias if spec is not None else directory.name
        self.identity = str(directory.resolve())
        self.max_residues = config.max_position_embeddings - HF_POSITION_OFFSET - SPECIAL_POSITIONS
        self.columns = torch.tensor([self.token_of[letter] for letter in self.letters], device=self.device)

    def tokens(self, sequences: Sequence[str], masked: Sequence[Sequence[int]]) -> torch.Tensor:
        """``<cls>`` + residues + ``<eos>`` per (equal-length) sequence, ``masked`` positions ``<mask>``."""
        ids = self.token_of
        rows = []
        for sequence, positions in zip(sequences, masked, strict=True):
            row = [ids["<cls>"], *(ids.get(letter, ids["<unk>"]) for letter in sequence), ids["<eos>"]]
            for position in positions:
                row[1 + position] = ids["<mask>"]
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long)

    def log_probs(self, sequences: Sequence[str], masked: Sequence[Sequence[int]]) -> np.ndarray:
        """``B x L x 25`` log-probabilities of the residue letters (see the interface)."""
        length = len(sequences[0])
        if any(len(sequence) != length for sequence in sequences):
            raise ValueError("log_probs takes sequences of one length")
        tokens = self.tokens(sequences, masked).to(self.device)
        with torch.inference_mode():
            logits = self.model(input_ids=tokens, attention_mask=torch.ones_like(tokens)).logits
            log_probs = torch.log_softmax(logits.float(), dim=-1)[:, 1:length + 1]
            return log_probs.index_select(-1, self.columns).cpu().numpy()


def load_language_model(location: str, spec: ModelSpec | None, options: LoadOptions) -> HfEsmLanguageModel:
    """An ESM checkpoint in the Hugging Face layout (hub name or local directory) with its LM head."""
    return HfEsmLanguageModel(resolve_directory(location, spec), spec, options)
