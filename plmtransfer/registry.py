"""The model registry: every model the pipeline knows, in one table.

Each entry states the model's names (the name its authors publish, the study's short alias,
further aliases), its family and backend (the module of :mod:`plmtransfer.backends` that
loads and runs it), its size (parameters, layers, per-layer embedding dimension, attention
heads), the layer the study extracts, and the licence of its weights. Everything that needs
a fact about a model reads it here: extraction (which backend), statistics and figures
(family, parameter count), the drivers and the README's model table.

A model is named by its published name, an alias, or a location the backends recognise
(a local fair-esm ``.pt`` checkpoint, a Hugging Face directory or hub name); see
:func:`find_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass

ONEHOT = "onehot"
MIT = "MIT"
CC_BY_NC = "CC BY-NC 4.0"
CAMBRIAN_OPEN = "Cambrian Open"
CAMBRIAN_NC = "Cambrian Non-Commercial"
NO_WEIGHTS = "none (no weights)"


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
    ModelSpec("esmc_300m", "esmc_300M", "esmc", "esmc", "300M", 300_000_000, 30, 960, 15,
              licence=CAMBRIAN_OPEN, aliases=("esmc300m", "esmc-300m"),
              hf_name="EvolutionaryScale/esmc-300m-2024-12", hf_backend="esmc",
              weights_file="data/weights/esmc_300m_2024_12_v0.pth"),
    ModelSpec("esmc_600m", "esmc_600M", "esmc", "esmc", "600M", 600_000_000, 36, 1152, 18,
              licence=CAMBRIAN_NC, aliases=("esmc600m", "esmc-600m"),
              hf_name="EvolutionaryScale/esmc-600m-2024-12", hf_backend="esmc",
              weights_file="data/weights/esmc_600m_2024_12_v0.pth"),
    ModelSpec("esmc_6b", "esmc_6B", "esmc", "esmc", "6B", 6_000_000_000, 80, 2560, 40,
              licence=CAMBRIAN_NC, note="weights available only through EvolutionaryScale's Forge API"),
    ModelSpec("unirep_64", "unirep64", "unirep", "unirep", "0.15M", 152_029, 4, 64,
              licence=CC_BY_NC, aliases=("unirep_0.15M",)),
    ModelSpec("unirep_256", "unirep256", "unirep", "unirep", "2.3M", 2_327_581, 4, 256,
              licence=CC_BY_NC, aliases=("unirep_2.3M",)),
    ModelSpec("unirep_1900", "unirep1900", "unirep", "unirep", "18.2M", 18_219_385, 1, 1900,
              licence=CC_BY_NC, aliases=("unirep_18.2M",)),
    ModelSpec(ONEHOT, ONEHOT, ONEHOT, "onehot", "0", 0, 0, 20, licence=NO_WEIGHTS),
)

# Architectures of the random ESM-2 test model: layers, embedding dimension, attention heads.
TEST_ARCHITECTURES: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 32, 4),
    "8M": (6, 320, 20),
    "35M": (12, 480, 20),
    "150M": (30, 640, 20),
    "650M": (33, 1280, 20),
}


def test_model_name(architecture: str) -> str:
    """Default file stem of a test model: starts with ``esm2`` and says it is random."""
    layers = TEST_ARCHITECTURES[architecture][0]
    return f"esm2_t{layers}_{architecture}_random"


def find_spec(name: str) -> ModelSpec | None:
    """The :class:`ModelSpec` that answers to ``name`` (published name, alias, HF name), else None."""
    for spec in MODELS:
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
    for spec in MODELS:
        note = f" ({spec.note})" if spec.note else ""
        lines.append(f"| `{spec.name}` | `{spec.alias}` | {spec.family} | {spec.backend} | "
                     f"{human_parameters(spec)} | {spec.layers} | {spec.embed_dim} | {spec.licence}{note} |")
    return "\n".join(lines)


def model_table_text() -> str:
    """The table of supported models as plain text for ``--help`` epilogues."""
    rows = [f"  {'model':<24} {'alias':<11} {'backend':<8} {'params':>6} {'layers':>6} {'dim':>5}"]
    for spec in MODELS:
        rows.append(f"  {spec.name:<24} {spec.alias:<11} {spec.backend:<8} {spec.size:>6} "
                    f"{spec.layers:>6} {spec.embed_dim:>5}")
    return "supported models (or a path to a local checkpoint):\n" + "\n".join(rows)
