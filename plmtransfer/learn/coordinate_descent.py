"""Lasso coordinate descent along a path of penalties, compiled (numba), for ``--solver compiled`` and ``fast``.

The algorithm is scikit-learn's ``enet_coordinate_descent`` (and its Gram variant) for the
lasso: cyclic coordinate descent warm-started from the previous penalty, stopped when the
duality gap is at most ``tol * ‖y‖²`` (checked once the largest coefficient step of an epoch
is below ``tol`` relative to the largest coefficient), with gap-safe screening of features
(Fercoq et al. 2015). What differs is the bookkeeping around it, which dominated the walk
on a few hundred rows (scikit-learn recomputes the column norms, the residuals and ``XᵀR``
at every call, and calls cost Python overhead under the GIL):

- one compiled call walks a whole run of penalties, releasing the GIL, so outer folds run
  in parallel threads;
- column norms are computed once per path; the residual is rebuilt from the non-zero
  coefficients only (``O(n · nnz)``);
- a penalty whose warm start already meets the gap tolerance (most of them at tol=1e-2)
  costs ``O(1)``: the gap at a new penalty needs only ``‖R‖²``, ``R·y``, ``max|XᵀR|`` and
  ``‖w‖₁`` of the current coefficients, kept from the last gap computation.

Sums accumulate in float64 whatever the data's dtype; the result meets the same duality-gap
criterion as scikit-learn's but is not bitwise the same path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FASTMATH = {"reassoc", "contract"}
"""Lets the compiler vectorise the dot products (reorders sums; no change to NaN/inf semantics)."""


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def duality_gap(l1_penalty, terms):
    """The lasso's duality gap at ``l1_penalty``, scikit-learn's formulation A, from the four
    ``terms`` of the coefficients (``‖R‖²``, ``R·y``, ``max|XᵀR|``, ``‖w‖₁``: see :func:`data_terms`)."""
    residual_norm2, residual_dot_y, dual_norm, coef_l1 = terms
    primal = 0.5 * residual_norm2 + l1_penalty * coef_l1
    scale = l1_penalty / dual_norm if dual_norm > l1_penalty else 1.0
    return primal - (scale * residual_dot_y - 0.5 * scale * scale * residual_norm2)


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def screen(active, n_active, coef, correlation, dual_norm, gap, l1_penalty, diagonal, vectors, updated, sign):
    """Gap-safe screening: keep the active features that may be non-zero at the optimum.

    ``correlation`` is ``XᵀR``. A removed feature's coefficient is set to zero and
    ``updated += sign * w_j * vectors[j]`` keeps the residual (``sign=+1``, ``vectors=Xᵀ``)
    or ``Gram @ w`` (``sign=-1``, ``vectors=Gram``) in step. Returns the new count.
    """
    radius = np.sqrt(2.0 * abs(gap)) / l1_penalty
    scale = max(l1_penalty, dual_norm)
    kept = 0
    for position in range(n_active):
        j = active[position]
        distance = (1.0 - abs(correlation[j] / scale)) / np.sqrt(diagonal[j])
        if distance <= radius:
            active[kept] = j
            kept += 1
        elif coef[j] != 0.0:
            step = sign * coef[j]
            row = vectors[j]
            for i in range(len(updated)):
                updated[i] += step * row[i]
            coef[j] = 0.0
    return kept


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def data_terms(columns, y, coef, residual, correlation):
    """``‖R‖²``, ``R·y``, ``max|XᵀR|`` and ``‖w‖₁`` for the kept residual; fills ``correlation`` with ``XᵀR``."""
    residual_norm2 = 0.0
    residual_dot_y = 0.0
    for i in range(len(residual)):
        residual_norm2 += residual[i] * residual[i]
        residual_dot_y += residual[i] * y[i]
    dual_norm = 0.0
    coef_l1 = 0.0
    for j in range(len(coef)):
        column = columns[j]
        total = 0.0
        for i in range(len(residual)):
            total += column[i] * residual[i]
        correlation[j] = total
        dual_norm = max(dual_norm, abs(total))
        coef_l1 += abs(coef[j])
    return residual_norm2, residual_dot_y, dual_norm, coef_l1


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def gram_terms(Xy, y_norm2, coef, gram_coef, correlation):
    """The same four terms from the Gram matrix: ``XᵀR = Xᵀy - G w`` (filled into ``correlation``)."""
    Xy_dot_coef = 0.0
    coef_gram_coef = 0.0
    dual_norm = 0.0
    coef_l1 = 0.0
    for j in range(len(coef)):
        Xy_dot_coef += Xy[j] * coef[j]
        coef_gram_coef += coef[j] * gram_coef[j]
        correlation[j] = Xy[j] - gram_coef[j]
        dual_norm = max(dual_norm, abs(correlation[j]))
        coef_l1 += abs(coef[j])
    return y_norm2 + coef_gram_coef - 2.0 * Xy_dot_coef, y_norm2 - Xy_dot_coef, dual_norm, coef_l1


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def all_features(diagonal, active):
    """Fill ``active`` with the features whose column is not all zero; return their count."""
    n_active = 0
    for j in range(len(diagonal)):
        if diagonal[j] > 0.0:
            active[n_active] = j
            n_active += 1
    return n_active


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def walk_data(X, y, diagonal, coef, l1_penalties, tol, max_iter):
    """Lasso solutions at each of ``l1_penalties`` (alpha times rows), warm-started from ``coef``.

    ``X`` is the centred training part (column-major), ``y`` the centred target, ``diagonal``
    the squared norms of ``X``'s columns (float64, computed once per path); ``coef``
    (float64) is moved in place and ends at the last penalty's solution. Returns the
    solutions (features x penalties, float64) and how many penalties hit ``max_iter``.
    """
    n_rows, n_features = X.shape
    columns = X.T
    residual = np.empty(n_rows)
    y_norm2 = 0.0
    for i in range(n_rows):
        residual[i] = y[i]
        y_norm2 += y[i] * y[i]
    for j in range(n_features):
        if coef[j] != 0.0:
            for i in range(n_rows):
                residual[i] -= coef[j] * columns[j, i]
    correlation = np.empty(n_features)
    active = np.empty(n_features, dtype=np.int64)
    terms = data_terms(columns, y, coef, residual, correlation)
    solutions = np.empty((n_features, len(l1_penalties)))
    unconverged = 0
    for step in range(len(l1_penalties)):
        l1_penalty = l1_penalties[step]
        gap = duality_gap(l1_penalty, terms)
        if not 0.0 <= gap <= tol * y_norm2:
            n_active = screen(active, all_features(diagonal, active), coef, correlation, terms[2], gap,
                              l1_penalty, diagonal, columns, residual, 1.0)
            converged = False
            for epoch in range(max_iter):
                largest_coef = 0.0
                largest_step = 0.0
                for position in range(n_active):
                    j = active[position]
                    column = columns[j]
                    old = coef[j]
                    total = 0.0
                    for i in range(n_rows):
                        total += column[i] * residual[i]
                    total += old * diagonal[j]
                    new = np.sign(total) * max(abs(total) - l1_penalty, 0.0) / diagonal[j]
                    if new != old:
                        change = new - old
                        for i in range(n_rows):
                            residual[i] -= change * column[i]
                        coef[j] = new
                    largest_step = max(largest_step, abs(new - old))
                    largest_coef = max(largest_coef, abs(new))
                if largest_coef == 0.0 or largest_step / largest_coef <= tol or epoch == max_iter - 1:
                    terms = data_terms(columns, y, coef, residual, correlation)
                    gap = duality_gap(l1_penalty, terms)
                    if gap <= tol * y_norm2:
                        converged = True
                        break
                    n_active = screen(active, n_active, coef, correlation, terms[2], gap, l1_penalty,
                                      diagonal, columns, residual, 1.0)
            if not converged:
                unconverged += 1
                terms = data_terms(columns, y, coef, residual, correlation)
        solutions[:, step] = coef
    return solutions, unconverged


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def walk_gram(gram, Xy, y_norm2, coef, l1_penalties, tol, max_iter):
    """:func:`walk_data` on the Gram matrix ``XᵀX`` (C-contiguous), ``Xᵀy`` and ``‖y‖²`` of the centred data.

    A coordinate step reads one entry of ``Xᵀy - G w`` and costs ``O(features)`` only when its
    coefficient moves, where :func:`walk_data` pays ``O(rows)`` at every step: scikit-learn uses this
    form when rows outnumber features, the compiled search from one row per ten features
    (:func:`plmtransfer.learn.lasso.walks_on_grams`).
    """
    n_features = len(Xy)
    diagonal = np.empty(n_features)
    for j in range(n_features):
        diagonal[j] = gram[j, j]
    gram_coef = np.zeros(n_features)
    for j in range(n_features):
        if coef[j] != 0.0:
            for k in range(n_features):
                gram_coef[k] += coef[j] * gram[j, k]
    correlation = np.empty(n_features)
    active = np.empty(n_features, dtype=np.int64)
    terms = gram_terms(Xy, y_norm2, coef, gram_coef, correlation)
    solutions = np.empty((n_features, len(l1_penalties)))
    unconverged = 0
    for step in range(len(l1_penalties)):
        l1_penalty = l1_penalties[step]
        gap = duality_gap(l1_penalty, terms)
        if not 0.0 <= gap <= tol * y_norm2:
            n_active = screen(active, all_features(diagonal, active), coef, correlation, terms[2], gap,
                              l1_penalty, diagonal, gram, gram_coef, -1.0)
            converged = False
            for epoch in range(max_iter):
                largest_coef = 0.0
                largest_step = 0.0
                for position in range(n_active):
                    j = active[position]
                    old = coef[j]
                    total = Xy[j] - gram_coef[j] + old * diagonal[j]
                    new = np.sign(total) * max(abs(total) - l1_penalty, 0.0) / diagonal[j]
                    if new != old:
                        change = new - old
                        row = gram[j]
                        for k in range(n_features):
                            gram_coef[k] += change * row[k]
                        coef[j] = new
                    largest_step = max(largest_step, abs(new - old))
                    largest_coef = max(largest_coef, abs(new))
                if largest_coef == 0.0 or largest_step / largest_coef <= tol or epoch == max_iter - 1:
                    terms = gram_terms(Xy, y_norm2, coef, gram_coef, correlation)
                    gap = duality_gap(l1_penalty, terms)
                    if gap <= tol * y_norm2:
                        converged = True
                        break
                    n_active = screen(active, n_active, coef, correlation, terms[2], gap, l1_penalty,
                                      diagonal, gram, gram_coef, -1.0)
            if not converged:
                unconverged += 1
                terms = gram_terms(Xy, y_norm2, coef, gram_coef, correlation)
        solutions[:, step] = coef
    return solutions, unconverged


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def exception_dot(indptr, indices, values, j, residual):
    """``d_jᵀ r``: column ``j``'s exceptions (rows where it differs from its common value) times ``r``."""
    total = 0.0
    for k in range(indptr[j], indptr[j + 1]):
        total += values[k] * residual[indices[k]]
    return total


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def sparse_terms(indptr, indices, values, common, exception_sums, y, coef, residual, shift, correlation):
    """:func:`data_terms` for columns stored as a common value plus exceptions (:func:`walk_sparse`).

    The residual is ``R = r - shift``; ``XᵀR`` (into ``correlation``) is ``common_j ΣR + d_jᵀr -
    shift Σd_j`` column by column. Returns the four terms and ``Σr``.
    """
    residual_norm2 = 0.0
    residual_dot_y = 0.0
    residual_sum = 0.0
    for i in range(len(residual)):
        value = residual[i] - shift
        residual_norm2 += value * value
        residual_dot_y += value * y[i]
        residual_sum += residual[i]
    total_residual = residual_sum - len(residual) * shift
    dual_norm = 0.0
    coef_l1 = 0.0
    for j in range(len(coef)):
        correlation[j] = (common[j] * total_residual + exception_dot(indptr, indices, values, j, residual)
                          - shift * exception_sums[j])
        dual_norm = max(dual_norm, abs(correlation[j]))
        coef_l1 += abs(coef[j])
    return (residual_norm2, residual_dot_y, dual_norm, coef_l1), residual_sum


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def screen_sparse(active, n_active, coef, correlation, dual_norm, gap, l1_penalty, diagonal):
    """Gap-safe screening as :func:`screen`, leaving the residual to the caller: returns the kept count
    and the removed features whose coefficient is non-zero, for :func:`walk_sparse` to zero and to
    take out of its residual."""
    radius = np.sqrt(2.0 * abs(gap)) / l1_penalty
    scale = max(l1_penalty, dual_norm)
    kept = 0
    removed = np.empty(n_active, dtype=np.int64)
    n_removed = 0
    for position in range(n_active):
        j = active[position]
        distance = (1.0 - abs(correlation[j] / scale)) / np.sqrt(diagonal[j])
        if distance <= radius:
            active[kept] = j
            kept += 1
        elif coef[j] != 0.0:
            removed[n_removed] = j
            n_removed += 1
    return kept, removed[:n_removed]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def step_sparse(indptr, indices, values, common, exception_sums, j, change, residual, residual_sum, shift):
    """Move coefficient ``j`` by ``change`` in :func:`walk_sparse`'s residual ``r - shift``: ``r`` at the
    column's exceptions, ``shift`` by ``change * common[j]``. Returns the new ``Σr`` and ``shift``."""
    for k in range(indptr[j], indptr[j + 1]):
        residual[indices[k]] -= change * values[k]
    return residual_sum - change * exception_sums[j], shift + change * common[j]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def walk_sparse(indptr, indices, values, common, exception_sums, y, diagonal, coef, l1_penalties, tol, max_iter):
    """:func:`walk_data` on columns stored as a common value plus exceptions: the same path, less work.

    Column ``j`` of the centred training part is ``common[j]`` in every row except the rows
    ``indices[indptr[j]:indptr[j+1]]``, where it is ``common[j] + values[...]`` (CSC layout;
    ``exception_sums[j]`` the sum of those values). With ``shift = Σ_j w_j common_j`` the residual
    is ``R = r - shift`` where ``r = y - Σ_j w_j d_j`` changes only at a column's exceptions, so a
    coordinate step costs ``O(exceptions)`` instead of ``O(rows)``: one-hot features of single
    mutants differ from their column's wild-type value in about two entries per row. The
    coordinate steps (``x_jᵀR = common_j ΣR + d_jᵀr - shift Σd_j``), stopping rule and screening
    are :func:`walk_data`'s.
    """
    n_rows = len(y)
    n_features = len(coef)
    residual = np.empty(n_rows)
    y_norm2 = 0.0
    for i in range(n_rows):
        residual[i] = y[i]
        y_norm2 += y[i] * y[i]
    residual_sum, shift = 0.0, 0.0
    for j in range(n_features):
        if coef[j] != 0.0:
            residual_sum, shift = step_sparse(indptr, indices, values, common, exception_sums, j, coef[j],
                                              residual, residual_sum, shift)
    columns = (indptr, indices, values, common, exception_sums)
    correlation = np.empty(n_features)
    active = np.empty(n_features, dtype=np.int64)
    terms, residual_sum = sparse_terms(*columns, y, coef, residual, shift, correlation)
    solutions = np.empty((n_features, len(l1_penalties)))
    unconverged = 0
    for step in range(len(l1_penalties)):
        l1_penalty = l1_penalties[step]
        gap = duality_gap(l1_penalty, terms)
        if not 0.0 <= gap <= tol * y_norm2:
            n_active, removed = screen_sparse(active, all_features(diagonal, active), coef, correlation, terms[2],
                                              gap, l1_penalty, diagonal)
            for j in removed:
                residual_sum, shift = step_sparse(*columns, j, -coef[j], residual, residual_sum, shift)
                coef[j] = 0.0
            converged = False
            for epoch in range(max_iter):
                largest_coef = 0.0
                largest_step = 0.0
                for position in range(n_active):
                    j = active[position]
                    old = coef[j]
                    total = (common[j] * (residual_sum - n_rows * shift) + exception_dot(indptr, indices, values, j,
                                                                                         residual)
                             - shift * exception_sums[j] + old * diagonal[j])
                    new = np.sign(total) * max(abs(total) - l1_penalty, 0.0) / diagonal[j]
                    if new != old:
                        residual_sum, shift = step_sparse(*columns, j, new - old, residual, residual_sum, shift)
                        coef[j] = new
                    largest_step = max(largest_step, abs(new - old))
                    largest_coef = max(largest_coef, abs(new))
                if largest_coef == 0.0 or largest_step / largest_coef <= tol or epoch == max_iter - 1:
                    terms, residual_sum = sparse_terms(*columns, y, coef, residual, shift, correlation)
                    gap = duality_gap(l1_penalty, terms)
                    if gap <= tol * y_norm2:
                        converged = True
                        break
                    n_active, removed = screen_sparse(active, n_active, coef, correlation, terms[2], gap,
                                                      l1_penalty, diagonal)
                    for j in removed:
                        residual_sum, shift = step_sparse(*columns, j, -coef[j], residual, residual_sum, shift)
                        coef[j] = 0.0
            if not converged:
                unconverged += 1
                terms, residual_sum = sparse_terms(*columns, y, coef, residual, shift, correlation)
        solutions[:, step] = coef
    return solutions, unconverged
