"""The ``onehot`` featuriser: per-residue one-hot encodings, the baseline every pLM must beat.

Each residue becomes a 20-vector over the standard amino acids in the order
``ACDEFGHIKLMNPQRSTVWY``. The extra letters the pipeline accepts (``X B Z U O``) encode as
an all-zero row: they carry no single standard identity, and a zero row keeps the length
(and so the positions of a DMS assay) intact.
"""

from __future__ import annotations

import numpy as np

from plmtransfer.sequences import STANDARD_AMINO_ACIDS

ONEHOT_DIM = len(STANDARD_AMINO_ACIDS)
_INDEX = np.full(256, -1, dtype=np.int64)
_INDEX[np.frombuffer(STANDARD_AMINO_ACIDS.encode("ascii"), dtype=np.uint8)] = np.arange(ONEHOT_DIM)


def onehot_encode(sequence: str) -> np.ndarray:
    """Return the L x 20 float32 one-hot matrix of an upper-case ``sequence``."""
    codes = _INDEX[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    encoding = np.zeros((len(sequence), ONEHOT_DIM), dtype=np.float32)
    known = codes >= 0
    encoding[np.flatnonzero(known), codes[known]] = 1.0
    return encoding
