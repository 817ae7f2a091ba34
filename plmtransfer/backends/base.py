"""The featuriser interface: what the extraction stage needs from a model, and nothing more.

A *featuriser* turns protein sequences into per-residue representations, layer by layer.
Each model family has one folder in this package whose featuriser module builds featurisers
(``load(location, spec, options) -> Featuriser``); :func:`plmtransfer.backends.load_featuriser`
picks the family from the model registry. The orchestration in :mod:`plmtransfer.embed.extract`
(records, token-budget batches, resume, shards, outputs) talks only to this interface and
never asks which family it holds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from plmtransfer.options import DTYPE_NAMES

DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}


@dataclass
class Embedded:
    """One sequence's output.

    ``representations``: ``{layer: L x D}`` float32 CPU tensors, one row per residue (special
    positions removed). ``bos``: ``{layer: D}`` the BOS-like vector (the state before the first
    residue), or None for models without one. ``contacts``: L x L contact probabilities when
    asked for. ``extras``: further per-protein vectors a backend offers, ``{name: {layer: D}}``
    (for example UniRep's final cell state ``c_final``), written to per-sequence files as
    ``<name>_representations`` and usable by compression methods that declare them.
    ``attentions``: ``{layer: heads x L x L}`` float32 attention weights over the residues (the
    rows and columns of BOS and EOS removed) when asked for (:class:`AttentionFeaturiser`).
    """

    representations: dict[int, torch.Tensor]
    bos: dict[int, torch.Tensor] | None
    contacts: torch.Tensor | None = None
    extras: dict[str, dict[int, torch.Tensor]] = field(default_factory=dict)
    attentions: dict[int, torch.Tensor] | None = None


@dataclass(frozen=True)
class LoadOptions:
    """What the user asked for that changes how a model is loaded: device and precision."""

    nogpu: bool = False
    dtype: str = "float32"


@runtime_checkable
class Featuriser(Protocol):
    """A loaded model, ready to embed batches of sequences.

    Attributes
    ----------
    name : str
        The model's name (registry name, or the checkpoint's stem for a local file).
    family : str
        The registry family (``esm2``, ``unirep``, ``onehot`` ...), for reports only.
    identity : str
        Everything that identifies the weights (e.g. the checkpoint path); part of the resume key.
    num_layers : int
        Layers ``0..num_layers`` can be requested (0 = the embedding output).
    embed_dim : int
        Width of the representation of the last layer.
    has_bos : bool
        True when ``Embedded.bos`` is filled (a state before the first residue exists).
    has_contacts : bool
        True when ``contacts=True`` can be served.
    special_positions : int
        Positions the model adds around the residues (BOS + EOS = 2 for ESM, the start
        token = 1 for UniRep, 0 for one-hot): the token budget counts them.
    max_residues : int | None
        Longest sequence the model accepts in one piece (None: no limit).
    toks_per_batch : int
        Default token budget of one batch (``extract.py --toks_per_batch``): what runs fastest
        on a CPU within bounded memory for this kind of model.
    alphabet : str
        Residue letters the model reads as themselves.
    unusual_letters : str
        One sentence: what the model does with ``X B Z U O`` (for ``--help`` and docs).
    extras : tuple[str, ...]
        Names of the per-protein vectors in ``Embedded.extras``.
    """

    name: str
    family: str
    identity: str
    num_layers: int
    embed_dim: int
    has_bos: bool
    has_contacts: bool
    special_positions: int
    max_residues: int | None
    toks_per_batch: int
    alphabet: str
    unusual_letters: str
    extras: tuple[str, ...]

    def layer_dim(self, layer: int) -> int:
        """Width of layer ``layer``'s representation."""

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool) -> list[Embedded]:
        """Embed one batch; return one :class:`Embedded` per sequence, in order."""


@runtime_checkable
class AttentionFeaturiser(Featuriser, Protocol):
    """A featuriser that can also return its attention maps (the ESM transformers).

    ``attention_heads`` is the number of heads per layer. ``embed(..., attention_layers=[...])``
    fills ``Embedded.attentions`` for those layers (1..num_layers: layer k's attention is the
    one inside transformer layer k, whose output is ``representations[k]``); without it the
    maps are never computed.
    """

    attention_heads: int

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool,
              attention_layers: Sequence[int] = ()) -> list[Embedded]:
        """Embed one batch, with the attention maps of ``attention_layers``."""


def device_and_dtype(options: LoadOptions) -> tuple[torch.device, torch.dtype]:
    """CUDA when available unless ``--nogpu``; the requested dtype (warns: half precision on CPU is slow)."""
    device = torch.device("cuda" if torch.cuda.is_available() and not options.nogpu else "cpu")
    dtype = DTYPES[options.dtype]
    if device.type == "cpu" and dtype != torch.float32:
        warnings.warn(f"--dtype {options.dtype} on CPU is much slower than float32", stacklevel=3)
    return device, dtype


def split_bos_residues(sequences: Sequence[str], representations: dict[int, torch.Tensor],
                       contact_maps: torch.Tensor | None = None,
                       attention_maps: dict[int, torch.Tensor] | None = None) -> list[Embedded]:
    """One :class:`Embedded` per sequence from a padded batch laid out as BOS, residues, EOS.

    ``representations`` holds ``{layer: B x T x D}`` float32 CPU tensors; row 0 of each sequence
    is its BOS vector, rows 1..L its residues; ``contact_maps`` (B x L' x L') is cut to L x L;
    ``attention_maps`` (``{layer: B x heads x T x T}``) to the residues' rows and columns.
    """
    results = []
    for i, sequence in enumerate(sequences):
        length = len(sequence)
        results.append(Embedded(
            {layer: tensor[i, 1:length + 1].clone() for layer, tensor in representations.items()},
            {layer: tensor[i, 0].clone() for layer, tensor in representations.items()},
            contact_maps[i, :length, :length].clone() if contact_maps is not None else None,
            attentions=None if attention_maps is None else {
                layer: maps[i, :, 1:length + 1, 1:length + 1].clone()
                for layer, maps in attention_maps.items()},
        ))
    return results
