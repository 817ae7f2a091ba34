"""A fair-esm ESM-2 as a trainable encoder for fine-tuning (:mod:`plmtransfer.learn.trainable`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from plmtransfer.backends.esm.featuriser import esm2_representations, load_model
from plmtransfer.errors import UserError

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


class EsmEncoder(nn.Module):
    """A fair-esm ESM-2 as a trainable encoder: tokens -> mean of the last layer over residues."""

    lora_targets = LORA_TARGETS

    def __init__(self, location: str):
        from esm.model.esm2 import ESM2

        super().__init__()
        loaded = load_model(location)
        if not isinstance(loaded.model, ESM2):
            raise UserError(f"{location}: fine-tuning supports ESM-2 checkpoints")
        self.model = loaded.model
        self.esm_alphabet = loaded.alphabet
        self.num_layers = loaded.num_layers
        self.embed_dim = loaded.embed_dim
        self.checkpoint = loaded.checkpoint

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """BOS + residues + EOS, padded (fair-esm's batch converter)."""
        converter = self.esm_alphabet.get_batch_converter()
        _, _, tokens = converter([(str(i), sequence) for i, sequence in enumerate(sequences)])
        return tokens

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks in order; the final layer norm belongs to the last one."""
        blocks: list[nn.Module] = list(self.model.layers)
        blocks[-1] = nn.ModuleList([blocks[-1], self.model.emb_layer_norm_after])
        return blocks

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x D: the last layer's mean over residue positions (BOS, EOS and padding excluded)."""
        hidden = esm2_representations(self.model, tokens, [self.num_layers])[self.num_layers]
        model = self.model
        residues = ~(tokens.eq(model.padding_idx) | tokens.eq(model.cls_idx) | tokens.eq(model.eos_idx))
        weights = residues.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


def load_encoder(location: str) -> EsmEncoder:
    """The ESM-2 at ``location`` (registry name or local ``.pt``) as a trainable encoder."""
    return EsmEncoder(location)
