"""Contact-map features: a protein's predicted contact map (L x L probabilities) as a fixed-length vector.

The maps are those of the model's contact head (fair-esm's ``contacts``: logistic regression on the
attention maps, Rao et al. 2021, "Transformer protein language models are unsupervised structure
learners"; a contact is a residue pair whose C-beta atoms lie within 8 Angstrom). Every function
takes a batch ``B x L x L`` of maps of equal length and returns ``B x k``; the compression methods
``contact_*`` of :mod:`plmtransfer.embed.methods` are these functions.

Definitions shared by all features:

- pairs nearer than ``MIN_SEPARATION`` = 6 in sequence (``|i - j| < 6``) are left out everywhere:
  they are in contact by chain geometry alone, and CASP's contact categories start at 6 (short
  6-11, medium 12-23, long >= 24; Monastyrskyy et al. 2014, CASP10 contact assessment);
- a *predicted contact* is a pair ``i < j`` (each pair once) with ``j - i >= 6`` and probability
  strictly above ``threshold`` (default 0.5, ``CompressOptions.contact_threshold``: the head is a logistic
  regression, so 0.5 is the probability at which a contact is likelier than not);
- the *contacts per residue* of residue ``i`` are the sum of row ``i`` of the probability map over
  ``|i - j| >= 6`` (the expected number of contacts of residue ``i``; no threshold). fair-esm's maps
  are symmetric, so rows and columns give the same sums.
"""

from __future__ import annotations

import numpy as np

from plmtransfer.errors import UserError
from plmtransfer.options import CompressOptions

MIN_SEPARATION = 6
SHORT_RANGE = (6, 11)
MEDIUM_RANGE = (12, 23)
LONG_RANGE_MIN = 24
DEFAULT_THRESHOLD = CompressOptions.contact_threshold
QUANTILE_COUNT = 10
HISTOGRAM_EDGES = (0, 1, 2, 3, 4, 5, 6, 7, 8)  # bins [0,1), [1,2), ..., [7,8), then [8, inf)
NEEDS_CONTACTS = "re-extract with --include contacts"


def check_maps(maps: np.ndarray) -> np.ndarray:
    """``maps`` as float64 ``B x L x L``: an error unless square, finite and within [0, 1]."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2] or maps.shape[1] == 0:
        raise UserError(f"a contact map must be L x L probabilities, got shape {maps.shape[1:]}; {NEEDS_CONTACTS}")
    if not np.isfinite(maps).all() or maps.min() < 0 or maps.max() > 1:
        raise UserError("a contact map holds values outside [0, 1] (or NaN): expected the contact head's "
                        f"probabilities; {NEEDS_CONTACTS}")
    return maps


def separations(length: int) -> np.ndarray:
    """L x L matrix of ``|i - j|``."""
    positions = np.arange(length)
    return np.abs(positions[:, None] - positions[None, :])


def contacts_per_residue(maps: np.ndarray) -> np.ndarray:
    """B x L: each residue's expected number of contacts, the row sums over ``|i - j| >= 6``."""
    maps = check_maps(maps)
    return (maps * (separations(maps.shape[1]) >= MIN_SEPARATION)).sum(axis=2)


def predicted_contacts(maps: np.ndarray, threshold: float) -> np.ndarray:
    """B x L x L booleans: the predicted contacts, pairs ``i < j`` with ``j - i >= 6`` and p > ``threshold``."""
    maps = check_maps(maps)
    length = maps.shape[1]
    positions = np.arange(length)
    upper = (positions[None, :] - positions[:, None]) >= MIN_SEPARATION  # j - i >= 6, so i < j
    return (maps > threshold) & upper


def contact_quantiles(maps: np.ndarray) -> np.ndarray:
    """B x 10: quantiles of the contacts per residue at levels (q + 0.5) / 10, q = 0..9.

    Linear interpolation between order statistics (numpy's default), so a protein of any length
    gives 10 values; the levels are the bin midpoints, as ``swe`` uses.
    """
    levels = (np.arange(QUANTILE_COUNT) + 0.5) / QUANTILE_COUNT
    return np.quantile(contacts_per_residue(maps), levels, axis=1).T


def contact_histogram(maps: np.ndarray) -> np.ndarray:
    """B x 9: the fraction of residues whose contacts per residue fall in [0,1), [1,2), ..., [7,8), [8, inf).

    Fractions of L, so proteins of different lengths compare; each row sums to 1.
    """
    per_residue = contacts_per_residue(maps)
    bins = np.searchsorted(np.asarray(HISTOGRAM_EDGES[1:]), per_residue, side="right")  # 0..8
    counts = np.stack([(bins == index).sum(axis=1) for index in range(len(HISTOGRAM_EDGES))], axis=1)
    return counts / per_residue.shape[1]


def contact_order(maps: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """B x 2: relative and absolute contact order of the predicted contacts.

    Absolute contact order (Ivankov et al. 2003): the mean sequence separation ``j - i`` of the
    predicted contacts. Relative contact order (Plaxco, Simons & Baker 1998): the absolute one
    divided by L, ``RCO = sum(j - i) / (L * N)`` over the N predicted contacts. Plaxco counted
    atom contacts within 6 Angstrom at any separation; here the contacts are the head's
    predictions at separation >= 6. Both are 0 when no pair is a predicted contact.
    Output order: relative, absolute.
    """
    contacts = predicted_contacts(maps, threshold)
    length = contacts.shape[1]
    count = contacts.sum(axis=(1, 2))
    total = (contacts * separations(length)).sum(axis=(1, 2))
    absolute = np.divide(total, count, out=np.zeros(len(count)), where=count > 0)
    return np.stack([absolute / length, absolute], axis=1)


def contact_bands(maps: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """B x 3: predicted contacts per residue by separation band: short (6-11), medium (12-23), long (>= 24).

    The number of predicted contacts (each pair once) whose separation ``j - i`` falls in the
    band, divided by L. Output order: short, medium, long.
    """
    contacts = predicted_contacts(maps, threshold)
    length = contacts.shape[1]
    separation = separations(length)
    bands = [(separation >= SHORT_RANGE[0]) & (separation <= SHORT_RANGE[1]),
             (separation >= MEDIUM_RANGE[0]) & (separation <= MEDIUM_RANGE[1]),
             separation >= LONG_RANGE_MIN]
    return np.stack([(contacts & band).sum(axis=(1, 2)) for band in bands], axis=1) / length


def contact_summary(maps: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """B x 24: quantiles (10), histogram (9), contact order (2) and bands (3), concatenated in that order."""
    return np.concatenate([contact_quantiles(maps), contact_histogram(maps),
                           contact_order(maps, threshold), contact_bands(maps, threshold)], axis=1)
