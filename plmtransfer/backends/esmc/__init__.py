"""The ESM C family (EvolutionaryScale's ESM Cambrian): its registry entries and the local weight files it reads."""

from __future__ import annotations

from pathlib import Path

from plmtransfer.backends import Family, local_model_default
from plmtransfer.registry import CAMBRIAN_NC, CAMBRIAN_OPEN, ModelSpec

WEIGHTS_DIR = Path("data") / "weights"  # where the official repositories keep their .pth files

MODELS: tuple[ModelSpec, ...] = (
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
)


def spec_of_file(path: Path) -> ModelSpec | None:
    """The entry whose official weight file has ``path``'s name (None for other files)."""
    return next((spec for spec in MODELS if spec.weights_file and Path(spec.weights_file).name == path.name),
                None)


def claims(location: str) -> bool:
    """A ``.pth`` weight file, or a repository copy with ``data/weights/`` (not a transformers directory)."""
    path = Path(location).expanduser()
    return (path.suffix == ".pth" or (path / WEIGHTS_DIR).is_dir()) and not (path / "config.json").is_file()


def local_model(location: str) -> tuple[str, int | None]:
    """The file's stem or the directory's name; the last layer of an official file name's entry,
    else a ``_t<N>_`` in the name."""
    directory, layers = local_model_default(location)
    spec = spec_of_file(Path(location).expanduser())
    return directory, spec.last_layer if spec is not None else layers


FAMILY = Family("esmc", MODELS, claims=claims, local_model=local_model)
