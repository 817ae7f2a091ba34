"""The contract every registered compression method keeps (plmtransfer/embed/methods.py's METHODS).

A method added to the registry is held to these checks with no edit here: what it declares (family,
reference, needs, narrowest dimension) must match what it does on a protein.
"""

from __future__ import annotations

import numpy as np
import pytest

from plmtransfer.embed.methods import (
    CONTACTS,
    FAMILIES,
    METHODS,
    check_dimension,
    compress_batch,
    compress_protein,
    output_dtype,
)
from plmtransfer.errors import UserError

LENGTH = 16


def protein(dim: int, seed: int, length: int = LENGTH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A float32 L x D protein, its BOS vector and one vector per extra any method declares (an L x L map for
    the contact map)."""
    rng = np.random.default_rng(seed)
    residues = (rng.standard_normal((length, dim)) * rng.uniform(0.5, 2.0, size=dim)).astype(np.float32)
    names = {extra for method in METHODS.values() for extra in method.needs_extras}
    extras = {name: (rng.uniform(size=(length, length)) if name == CONTACTS else rng.standard_normal(dim)).astype(
        np.float32) for name in sorted(names)}
    return residues, rng.standard_normal(dim).astype(np.float32), extras


def width(name: str) -> int:
    """An embedding dimension every method accepts, and at least ``name``'s narrowest."""
    return max(48, METHODS[name].min_dim)


@pytest.mark.parametrize("name", list(METHODS))
def test_declarations_are_complete(name):
    method = METHODS[name]
    assert method.name == name
    assert method.family in FAMILIES
    assert method.reference
    assert method.min_dim >= 0
    assert output_dtype(name) in (np.float32, np.int8)


@pytest.mark.parametrize("name", list(METHODS))
def test_one_vector_of_the_declared_dtype_the_same_every_time(name):
    residues, bos, extras = protein(width(name), seed=1)
    first = compress_protein(residues, bos, [name], extras=extras)[name]
    again = compress_protein(residues, bos, [name], extras=extras)[name]
    assert first.ndim == 1 and first.size > 0
    assert first.dtype == output_dtype(name)
    assert np.isfinite(first.astype(np.float64)).all()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(METHODS[name].function(residues, bos, extras), first)


@pytest.mark.parametrize("name", list(METHODS))
def test_a_batch_gives_each_proteins_own_vector(name):
    proteins = [protein(width(name), seed=seed) for seed in (2, 3)]
    batch = compress_batch(np.stack([p[0] for p in proteins]), np.stack([p[1] for p in proteins]), [name],
                           extras={extra: np.stack([p[2][extra] for p in proteins]) for extra in proteins[0][2]})
    for index, (residues, bos, extras) in enumerate(proteins):
        single = compress_protein(residues, bos, [name], extras=extras)[name]
        np.testing.assert_allclose(batch[name][index].astype(np.float64), single.astype(np.float64),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if method.needs_bos])
def test_a_method_that_needs_bos_says_so_without_it(name):
    residues, _, extras = protein(width(name), seed=4)
    with pytest.raises(UserError, match="BOS"):
        compress_protein(residues, None, [name], extras=extras)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if not method.needs_bos])
def test_a_method_that_does_not_need_bos_ignores_it(name):
    residues, bos, extras = protein(width(name), seed=5)
    without = compress_protein(residues, None, [name], extras=extras)[name]
    np.testing.assert_array_equal(compress_protein(residues, bos, [name], extras=extras)[name], without)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if method.needs_extras])
def test_a_method_that_needs_extras_names_them_without_them(name):
    residues, bos, _ = protein(width(name), seed=6)
    with pytest.raises(UserError, match=METHODS[name].needs_extras[0]):
        compress_protein(residues, bos, [name])


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if not method.needs_residues])
def test_a_method_that_needs_no_residues_does_not_read_them(name):
    residues, bos, extras = protein(width(name), seed=7)
    changed = compress_protein(residues * 3 + 1, bos, [name], extras=extras)[name]
    np.testing.assert_array_equal(compress_protein(residues, bos, [name], extras=extras)[name], changed)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if method.min_dim])
def test_the_narrowest_dimension_is_checked_before_any_work(name):
    minimum = METHODS[name].min_dim
    check_dimension([name], minimum, "layer 1")
    with pytest.raises(UserError, match=f"{name} needs an embedding dimension of at least {minimum}, layer 1 has"):
        check_dimension([name], minimum - 1, "layer 1")
