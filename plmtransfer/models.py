"""Resolving and safely loading protein language models; the table of supported models.

A model is named by a fair-esm name (``esm2_t30_150M_UR50D``), by the study's short alias
(``esm2_150M``) or by the path of a local checkpoint (``.pt``). Names resolve to the torch
hub cache (``$TORCH_HOME/hub/checkpoints/<name>.pt``, where fair-esm itself stores them)
and are downloaded when the network allows. Set ``PLMTRANSFER_OFFLINE=1`` to never try.

Checkpoints are always read with ``torch.load(..., weights_only=True)``; the only class
allow-listed is ``argparse.Namespace``, which the official checkpoints pickle for their
configuration. (fair-esm 2.0.0's own ``load_model_and_alphabet_local`` fails on torch >= 2.6
because it relies on torch.load's old default of unpickling any object.)

:func:`write_test_model` writes a randomly initialised ESM-2 in the exact layout of the
official files. Its embeddings carry no biology: use it for tests and benchmarks only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path

MODEL_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"
REGRESSION_URL = "https://dl.fbaipublicfiles.com/fair-esm/regression/{name}-contact-regression.pt"
OFFLINE_ENV = "PLMTRANSFER_OFFLINE"
DOWNLOAD_TIMEOUT_SECONDS = 30
ONEHOT = "onehot"


@dataclass(frozen=True)
class ModelSpec:
    """One supported model: names, family, size and architecture."""

    name: str
    alias: str
    family: str
    size: str
    parameters: int
    layers: int
    embed_dim: int
    heads: int
    has_contact_regression: bool = True

    @property
    def last_layer(self) -> int:
        """The layer the study extracted: the last one."""
        return self.layers


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("esm2_t6_8M_UR50D", "esm2_8M", "esm2", "8M", 8_000_000, 6, 320, 20),
    ModelSpec("esm2_t12_35M_UR50D", "esm2_35M", "esm2", "35M", 35_000_000, 12, 480, 20),
    ModelSpec("esm2_t30_150M_UR50D", "esm2_150M", "esm2", "150M", 150_000_000, 30, 640, 20),
    ModelSpec("esm2_t33_650M_UR50D", "esm2_650M", "esm2", "650M", 650_000_000, 33, 1280, 20),
    ModelSpec("esm2_t36_3B_UR50D", "esm2_3B", "esm2", "3B", 3_000_000_000, 36, 2560, 40),
    ModelSpec("esm2_t48_15B_UR50D", "esm2_15B", "esm2", "15B", 15_000_000_000, 48, 5120, 40),
    ModelSpec("esm1v_t33_650M_UR90S_1", "esm1v_650M", "esm1v", "650M", 650_000_000, 33, 1280, 20,
              has_contact_regression=False),
    ModelSpec("esm1b_t33_650M_UR50S", "esm1b_650M", "esm1b", "650M", 650_000_000, 33, 1280, 20),
    ModelSpec(ONEHOT, ONEHOT, ONEHOT, "0", 0, 0, 20, 0, has_contact_regression=False),
)

# Architectures of the test model: layers, embedding dimension, attention heads.
TEST_ARCHITECTURES: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 32, 4),
    "8M": (6, 320, 20),
    "35M": (12, 480, 20),
    "150M": (30, 640, 20),
    "650M": (33, 1280, 20),
}


def find_spec(name: str) -> ModelSpec | None:
    """Return the :class:`ModelSpec` whose fair-esm name or alias is ``name`` (else None)."""
    for spec in MODELS:
        if name in (spec.name, spec.alias):
            return spec
    return None


def model_table_markdown() -> str:
    """The table of supported models as Markdown (used in the README and ``--help``)."""
    lines = [
        "| model | alias | family | parameters | layers | embedding dim |",
        "|---|---|---|---|---|---|",
    ]
    for spec in MODELS:
        parameters = "none (baseline)" if spec.parameters == 0 else spec.size
        lines.append(f"| `{spec.name}` | `{spec.alias}` | {spec.family} | {parameters} | "
                     f"{spec.layers} | {spec.embed_dim} |")
    return "\n".join(lines)


def model_table_text() -> str:
    """The table of supported models as plain text for ``--help`` epilogues."""
    rows = [f"  {'model':<24} {'alias':<11} {'params':>6} {'layers':>6} {'dim':>5}"]
    for spec in MODELS:
        rows.append(f"  {spec.name:<24} {spec.alias:<11} {spec.size:>6} {spec.layers:>6} "
                    f"{spec.embed_dim:>5}")
    return "supported models (or a path to a local .pt checkpoint):\n" + "\n".join(rows)


def hub_checkpoint_dir() -> Path:
    """The directory where fair-esm (through torch.hub) caches downloaded checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def is_offline() -> bool:
    """True when the user asked never to touch the network (``PLMTRANSFER_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def download_file(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically (raises ``OSError`` on network failure)."""
    with atomic_path(destination) as temporary:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, \
                open(temporary, "wb") as handle:
            shutil.copyfileobj(response, handle)


def fetch_to_cache(url: str, destination: Path, what: str) -> Path:
    """Return ``destination``, downloading ``url`` there first if it is not cached.

    Fails with one sentence that says where to put the file when offline or unreachable.
    """
    if destination.is_file():
        return destination
    advice = (f"download {url} on a machine with network access and put it at {destination}, "
              "or pass the path of a local .pt checkpoint")
    if is_offline():
        raise UserError(f"{what} is not in the torch hub cache and {OFFLINE_ENV} is set: {advice}")
    try:
        download_file(url, destination)
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"{what} is not in the torch hub cache and could not be downloaded "
                        f"({reason}): {advice}") from None
    return destination


def looks_like_path(location: str) -> bool:
    """True if ``location`` names a file rather than a model name."""
    return location.endswith(".pt") or os.sep in location or Path(location).exists()


def resolve_checkpoint(location: str) -> Path:
    """Turn a model name, alias or local path into the path of a checkpoint file.

    Known names are looked up in (or downloaded to) the torch hub cache, with the
    contact-regression weights beside them; unknown names are an error listing the choices.
    """
    if looks_like_path(location):
        path = Path(location).expanduser()
        if not path.is_file():
            raise UserError(f"{path}: model checkpoint file not found")
        return path
    spec = find_spec(location)
    if spec is None or spec.name == ONEHOT:
        known = ", ".join(spec.name for spec in MODELS if spec.name != ONEHOT)
        raise UserError(f"unknown model {location!r}: use one of {known}, "
                        "their short aliases (e.g. esm2_150M), or a path to a local .pt file")
    cache = hub_checkpoint_dir()
    path = fetch_to_cache(MODEL_URL.format(name=spec.name), cache / f"{spec.name}.pt",
                          f"model {spec.name}")
    if spec.has_contact_regression:
        fetch_to_cache(REGRESSION_URL.format(name=spec.name),
                       cache / f"{spec.name}-contact-regression.pt",
                       f"contact-regression weights of {spec.name}")
    return path


def regression_path(checkpoint: Path) -> Path:
    """Where fair-esm expects the contact-regression weights of ``checkpoint``."""
    return checkpoint.with_name(f"{checkpoint.stem}-contact-regression.pt")


def safe_torch_load(path: str | os.PathLike):
    """``torch.load`` with ``weights_only=True``, allowing only ``argparse.Namespace``."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot be read as a safe torch checkpoint ({first_line})") from None


@dataclass
class LoadedModel:
    """A model ready for inference with what the extraction stage needs to know about it."""

    model: torch.nn.Module
    alphabet: object
    name: str
    checkpoint: Path
    num_layers: int
    embed_dim: int
    has_contact_weights: bool


def load_model(location: str) -> LoadedModel:
    """Resolve ``location`` and build the fair-esm model from its checkpoint, in eval mode.

    Contact-regression weights are loaded when ``<name>-contact-regression.pt`` lies beside
    the checkpoint. The architecture is read from the checkpoint's content (``cfg`` for
    ESM-2, ``args`` for ESM-1b/1v), not guessed from the file name.
    """
    from esm.pretrained import load_model_and_alphabet_core

    checkpoint = resolve_checkpoint(location)
    model_data = safe_torch_load(checkpoint)
    if not isinstance(model_data, dict) or "model" not in model_data or not (
            "cfg" in model_data or "args" in model_data):
        raise UserError(f"{checkpoint}: not a fair-esm checkpoint (expected keys 'model' and "
                        "'cfg' or 'args')")
    regression_file = regression_path(checkpoint)
    regression_data = safe_torch_load(regression_file) if regression_file.is_file() else None
    loader_name = "esm2" if "cfg" in model_data else "esm1"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Regression weights not found")
        model, alphabet = load_model_and_alphabet_core(loader_name, model_data, regression_data)
    model.eval()
    return LoadedModel(
        model=model,
        alphabet=alphabet,
        name=checkpoint.stem,
        checkpoint=checkpoint,
        num_layers=model.num_layers,
        embed_dim=model.embed_tokens.weight.shape[1],
        has_contact_weights=regression_data is not None,
    )


def test_model_name(architecture: str) -> str:
    """Default file stem of a test model: starts with ``esm2`` and says it is random."""
    layers = TEST_ARCHITECTURES[architecture][0]
    return f"esm2_t{layers}_{architecture}_random"


def write_test_model(output_dir: str | os.PathLike, architecture: str = "tiny", seed: int = 0,
                     name: str | None = None) -> Path:
    """Write a randomly initialised ESM-2 in the layout of the official checkpoint files.

    Writes ``<name>.pt`` = ``{"model": state_dict, "cfg": {"model": Namespace(...)}}`` with
    the official key prefixes (``encoder.sentence_encoder.``, ``encoder.lm_head``) and
    ``<name>-contact-regression.pt`` = ``{"model": {contact_head.regression.*}}``. The same
    ``seed`` gives the same weights. Returns the path of ``<name>.pt``.
    """
    from esm.model.esm2 import ESM2

    if architecture not in TEST_ARCHITECTURES:
        raise UserError(f"unknown test architecture {architecture!r}: use one of "
                        f"{', '.join(TEST_ARCHITECTURES)}")
    layers, embed_dim, heads = TEST_ARCHITECTURES[architecture]
    name = name or test_model_name(architecture)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ESM2(num_layers=layers, embed_dim=embed_dim, attention_heads=heads,
                     alphabet="ESM-1b", token_dropout=True)
    state = model.state_dict()
    encoder_state, regression_state = {}, {}
    for key, value in state.items():
        if key.startswith("contact_head."):
            regression_state[key] = value.clone()
        elif key.startswith("lm_head."):
            encoder_state[f"encoder.{key}"] = value.clone()
        else:
            encoder_state[f"encoder.sentence_encoder.{key}"] = value.clone()
    config = argparse.Namespace(
        arch="esm2", encoder_layers=layers, encoder_embed_dim=embed_dim,
        encoder_ffn_embed_dim=4 * embed_dim, encoder_attention_heads=heads,
        token_dropout=True, max_positions=1024, dropout=0.0, attention_dropout=0.0,
        untrained_random_weights=True, seed=seed,
    )
    output_dir = Path(output_dir)
    checkpoint = output_dir / f"{name}.pt"
    with atomic_path(checkpoint) as temporary:
        torch.save({"model": encoder_state, "cfg": {"model": config}}, temporary)
    with atomic_path(regression_path(checkpoint)) as temporary:
        torch.save({"model": regression_state}, temporary)
    return checkpoint
