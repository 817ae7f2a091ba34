"""The Hugging Face family (transformers' layout: ``EsmModel``, T5 and BERT encoders, any ``AutoModel``):
its registry entries, how each model family is tokenised, the hub names and directories it reads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from plmtransfer.backends import Family, layers_in_name, local_model_default
from plmtransfer.registry import AFL, CC_BY_NC_SA, ModelSpec

HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
CHECKPOINT_SUFFIXES = (".pt", ".pth")  # file names, never hub repositories
LAYER_COUNT_KEYS = ("num_hidden_layers", "num_layers")  # BERT/ESM, T5 names of the layer count in config.json


@dataclass(frozen=True)
class Tokenisation:
    """How a model family's authors turn a protein into the tokenizer's input.

    ``architecture`` is transformers' ``model_type`` (for ``config.json`` files that do not state it);
    ``spaced``: residues joined by spaces (``"M K T"``) rather than passed as a list of one-letter words
    (``is_split_into_words``); ``to_x``: letters replaced by ``X`` first.
    """

    architecture: str
    spaced: bool
    to_x: str = ""


# Per registry family, the authors' usage code: ProtTrans (Rostlab model cards) spaces residues and maps
# U Z O B to X; Ankh (agemagician/Ankh README) passes list(sequence) with is_split_into_words=True.
TOKENISATION = {
    "prott5": Tokenisation("t5", spaced=True, to_x="UZOB"),
    "protbert": Tokenisation("bert", spaced=True, to_x="UZOB"),
    "ankh": Tokenisation("t5", spaced=False),
}


def _encoder(name: str, alias: str, family: str, size: str, parameters: int, layers: int, dim: int, heads: int,
             licence: str, owner: str) -> ModelSpec:
    """An encoder read through transformers: ``parameters`` counts the encoder that runs (computed from the
    published ``config.json``), ``hf_name`` is ``owner/name``."""
    return ModelSpec(name, alias, family, "hf", size, parameters, layers, dim, heads, licence=licence,
                     hf_name=f"{owner}/{name}")


# Layers, widths and heads from each repository's config.json (num_layers / num_hidden_layers, d_model /
# hidden_size, num_heads / num_attention_heads); parameters of the encoder built from that config.
MODELS: tuple[ModelSpec, ...] = (
    _encoder("prot_t5_xl_uniref50", "prott5_xl", "prott5", "1.2B", 1_208_141_824, 24, 1024, 32, AFL, "Rostlab"),
    _encoder("prot_t5_xl_half_uniref50-enc", "prott5_xl_half", "prott5", "1.2B", 1_208_141_824, 24, 1024, 32,
             AFL, "Rostlab"),
    _encoder("prot_bert", "protbert", "protbert", "420M", 418_881_536, 30, 1024, 16, AFL, "Rostlab"),
    _encoder("prot_bert_bfd", "protbert_bfd", "protbert", "420M", 418_881_536, 30, 1024, 16, AFL, "Rostlab"),
    _encoder("ankh-base", "ankh_base", "ankh", "450M", 453_170_688, 48, 768, 12, CC_BY_NC_SA, "ElnaggarLab"),
    _encoder("ankh-large", "ankh_large", "ankh", "1.15B", 1_151_707_648, 48, 1536, 16, CC_BY_NC_SA,
             "ElnaggarLab"),
)


def is_hub_name(location: str) -> bool:
    """True for an ``owner/name`` that is no local path and no checkpoint file name."""
    path = Path(location).expanduser()
    return bool(HUB_NAME.fullmatch(location)) and path.suffix not in CHECKPOINT_SUFFIXES and not path.exists()


def claims(location: str) -> bool:
    """A directory with ``config.json`` (transformers' layout), or a hub repository ``owner/name``."""
    return (Path(location).expanduser() / "config.json").is_file() or is_hub_name(location)


def config_layers(config: dict) -> int | None:
    """The layer count a transformers ``config.json`` states (``num_hidden_layers``, T5's ``num_layers``)."""
    return next((config[key] for key in LAYER_COUNT_KEYS if key in config), None)


def local_model(location: str) -> tuple[str, int | None]:
    """``owner--name`` for a hub repository, else the directory's name; layers from ``config.json``
    when there is one, else from a ``_t<N>_`` in the name."""
    config = Path(location).expanduser() / "config.json"
    if config.is_file():
        return local_model_default(location)[0], config_layers(json.loads(config.read_text()))
    if is_hub_name(location):
        directory = location.replace("/", "--")
        return directory, layers_in_name(directory)
    return local_model_default(location)


# Registry models of other families named by their hub name read through this family too (``ModelSpec.hf_backend``).
FAMILY = Family("hf", MODELS, language_model="language_model", claims=claims, local_model=local_model)
