"""The ``onehot`` featuriser: per-residue one-hot encodings, the baseline every pLM must beat.

Each residue becomes a 20-vector over the standard amino acids in the order
``ACDEFGHIKLMNPQRSTVWY``. The extra letters the pipeline accepts (``X B Z U O``) encode as
an all-zero row: they carry no single standard identity, and a zero row keeps the length
(and so the positions of a DMS assay) intact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from plmtransfer.backends.base import Embedded, LoadOptions
from plmtransfer.backends.onehot import ONEHOT
from plmtransfer.data.sequences import ONEHOT_DIM, STANDARD_AMINO_ACIDS, onehot_encode
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH
from plmtransfer.registry import ModelSpec


class OnehotFeaturiser:
    """The ``onehot`` baseline: layer 0 is the L x 20 one-hot matrix; no BOS token, no limit."""

    name = ONEHOT
    family = ONEHOT
    identity = ONEHOT
    num_layers = 0
    embed_dim = ONEHOT_DIM
    has_bos = False
    has_contacts = False
    special_positions = 0
    max_residues = None
    toks_per_batch = DEFAULT_TOKS_PER_BATCH
    alphabet = STANDARD_AMINO_ACIDS
    unusual_letters = "X B Z U O encode as an all-zero row (no single standard identity; the length is kept)"
    extras = ()

    def layer_dim(self, layer: int) -> int:
        """Every layer (there is only 0) is 20 wide."""
        return ONEHOT_DIM

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool) -> list[Embedded]:
        """One-hot encode each sequence."""
        return [Embedded({0: torch.from_numpy(onehot_encode(sequence))}, None) for sequence in sequences]


def load(location: str, spec: ModelSpec | None, options: LoadOptions) -> OnehotFeaturiser:
    """The one-hot featuriser (no weights: ``options`` change nothing)."""
    return OnehotFeaturiser()
