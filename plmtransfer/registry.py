"""The model registry: every model the pipeline knows, in one table.

Each entry states the model's names (the name its authors publish, the study's short alias,
further aliases), its family and backend (the folder of :mod:`plmtransfer.backends` that
loads and runs it), its size (parameters, layers, per-layer embedding dimension, attention
heads), the layer the study extracts, and the licence of its weights. Everything that needs
a fact about a model reads it here: extraction (which backend), statistics and figures
(family, parameter count), the drivers and the README's model table.

The entries are registered once, by their family (``plmtransfer/backends/<family>/__init__.py``,
modules that import nothing heavy); :data:`MODELS` collects them on first use, so importing this
module stays cheap. A model is named by its published name, an alias, or a location the
backends recognise (a local fair-esm ``.pt`` checkpoint, a Hugging Face directory or hub name);
see :func:`find_spec`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

MIT = "MIT"
CC_BY_NC = "CC BY-NC 4.0"
CAMBRIAN_OPEN = "Cambrian Open"
CAMBRIAN_NC = "Cambrian Non-Commercial"
NO_WEIGHTS = "none (no weights)"
AFL = "AFL-3.0"
CC_BY_NC_SA = "CC BY-NC-SA 4.0"


@dataclass(frozen=True)
class ModelSpec:
    """One supported model: names, family, backend, size, architecture, licence of the weights.

    ``parameters`` is the study's nominal count for the ESM families (``650000000`` for 650M,
    as in its published result files) and the exact count of the weight file for UniRep.
    ``hf_name`` is the Hugging Face hub repository of the weights and ``hf_backend`` the backend
    that reads it (``hf`` for transformers' layout; ``esmc`` for EvolutionaryScale's
    repositories, whose ``weights_file`` is the path of the official weight file inside it).
    """

    name: str
    alias: str
    family: str
    backend: str
    size: str
    parameters: int
    layers: int
    embed_dim: int
    heads: int = 0
    licence: str = MIT
    has_contact_regression: bool = False
    aliases: tuple[str, ...] = ()
    hf_name: str = ""
    hf_backend: str = "hf"
    weights_file: str = ""
    note: str = ""

    @property
    def last_layer(self) -> int:
        """The layer the study extracted: the last one."""
        return self.layers

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this model answers to."""
        return tuple(dict.fromkeys((self.name, self.alias, *self.aliases, *((self.hf_name,) if self.hf_name
                                                                            else ()))))


@functools.cache
def registered_models() -> tuple[ModelSpec, ...]:
    """Every family's entries, in registration order (read from the families' registrations)."""
    from plmtransfer.backends import families  # the families' registrations import nothing heavy

    return tuple(spec for family in families() for spec in family.models)


def __getattr__(name: str):
    """``MODELS`` (every entry) and ``BASELINE`` (the name of the model with no parameters), read on first use."""
    if name == "MODELS":
        return registered_models()
    if name == "BASELINE":
        return next(spec.name for spec in registered_models() if spec.parameters == 0)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def test_model_info(name: str) -> tuple[str, str, float] | None:
    """Family, size and parameter count of a randomly initialised test model called ``name``, else None.

    The family whose test-model writer gives such names answers (e.g. ``esm2_t2_tiny_random``).
    """
    from plmtransfer.backends import random_model_info

    return random_model_info(name)


def find_spec(name: str) -> ModelSpec | None:
    """The :class:`ModelSpec` that answers to ``name`` (published name, alias, HF name), else None."""
    for spec in registered_models():
        if name in spec.names:
            return spec
    return None


def human_parameters(spec: ModelSpec) -> str:
    """The parameter count as people write it (``150M``), or ``none`` for the baseline."""
    return "none (baseline)" if spec.parameters == 0 else spec.size


def model_table_markdown() -> str:
    """The table of supported models as Markdown (the README's model table)."""
    lines = [
        "| model | alias | family | backend | parameters | layers | dim | licence of the weights |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in registered_models():
        note = f" ({spec.note})" if spec.note else ""
        lines.append(f"| `{spec.name}` | `{spec.alias}` | {spec.family} | {spec.backend} | "
                     f"{human_parameters(spec)} | {spec.layers} | {spec.embed_dim} | {spec.licence}{note} |")
    return "\n".join(lines)


def model_table_text() -> str:
    """The table of supported models as plain text for ``--help`` epilogues."""
    rows = [f"  {'model':<24} {'alias':<11} {'backend':<8} {'params':>6} {'layers':>6} {'dim':>5}"]
    for spec in registered_models():
        rows.append(f"  {spec.name:<24} {spec.alias:<11} {spec.backend:<8} {spec.size:>6} "
                    f"{spec.layers:>6} {spec.embed_dim:>5}")
    return "supported models (or a path to a local checkpoint):\n" + "\n".join(rows)
