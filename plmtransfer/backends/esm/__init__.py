"""The fair-esm family (ESM-2, ESM-1v, ESM-1b checkpoints): its registry entries, test model and local files."""

from __future__ import annotations

import os
import re
from pathlib import Path

from plmtransfer.backends import Family, RandomModelWriter
from plmtransfer.registry import ModelSpec

# Architectures of the random ESM-2 test model: layers, embedding dimension, attention heads.
TEST_ARCHITECTURES: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 32, 4),
    "8M": (6, 320, 20),
    "35M": (12, 480, 20),
    "150M": (30, 640, 20),
    "650M": (33, 1280, 20),
}
RANDOM_NAME = re.compile(r"^(?P<family>[A-Za-z0-9]+)_t(?P<layers>\d+)_(?P<arch>\w+?)_random$")


def _esm2(layers: int, size: str, parameters: int, dim: int, heads: int) -> ModelSpec:
    """An ESM-2 entry (fair-esm name, study alias, Hugging Face name)."""
    name = f"esm2_t{layers}_{size}_UR50D"
    return ModelSpec(name, f"esm2_{size}", "esm2", "esm", size, parameters, layers, dim, heads,
                     has_contact_regression=True, hf_name=f"facebook/{name}")


MODELS: tuple[ModelSpec, ...] = (
    _esm2(6, "8M", 8_000_000, 320, 20),
    _esm2(12, "35M", 35_000_000, 480, 20),
    _esm2(30, "150M", 150_000_000, 640, 20),
    _esm2(33, "650M", 650_000_000, 1280, 20),
    _esm2(36, "3B", 3_000_000_000, 2560, 40),
    _esm2(48, "15B", 15_000_000_000, 5120, 40),
    ModelSpec("esm1v_t33_650M_UR90S_1", "esm1v_650M", "esm1v", "esm", "650M", 650_000_000, 33, 1280, 20,
              hf_name="facebook/esm1v_t33_650M_UR90S_1"),
    ModelSpec("esm1b_t33_650M_UR50S", "esm1b_650M", "esm1b", "esm", "650M", 650_000_000, 33, 1280, 20,
              has_contact_regression=True, hf_name="facebook/esm1b_t33_650M_UR50S"),
)


def test_model_name(architecture: str) -> str:
    """Default file stem of a test model: starts with ``esm2`` and says it is random."""
    layers = TEST_ARCHITECTURES[architecture][0]
    return f"esm2_t{layers}_{architecture}_random"


def parameter_count(layers: int, embed_dim: int, heads: int, vocabulary: int = 33) -> int:
    """Number of weights of an ESM-2 with this architecture (used for random test models).

    Per layer: attention (4 projections with bias), two layer norms, feed-forward (4x width);
    plus token embedding, final layer norm, the tied LM head's dense + norm + bias, and the
    contact head's logistic regression over all attention maps.
    """
    d = embed_dim
    per_layer = 4 * (d * d + d) + 2 * (2 * d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    lm_head = d * d + d + 2 * d + vocabulary
    contact_head = layers * heads + 1
    return layers * per_layer + vocabulary * d + 2 * d + lm_head + contact_head


def random_model(name: str) -> tuple[str, str, float] | None:
    """Family, architecture and parameter count of a test model named as :func:`test_model_name` names it.

    The family is the name's prefix; the count is NaN for an architecture not in :data:`TEST_ARCHITECTURES`.
    """
    match = RANDOM_NAME.match(name)
    if not match:
        return None
    arch = match["arch"]
    parameters = float(parameter_count(*TEST_ARCHITECTURES[arch])) if arch in TEST_ARCHITECTURES else float("nan")
    return match["family"], arch, parameters


def claims(location: str) -> bool:
    """A local checkpoint: a ``.pt`` file or any other path (asked after every other family)."""
    return location.endswith(".pt") or os.sep in location or Path(location).expanduser().exists()


FAMILY = Family("esm", MODELS, language_model="language_model", encoder="encoder", claims=claims, fallback=True,
                random_model=random_model, test_models=RandomModelWriter(TEST_ARCHITECTURES, test_model_name))
