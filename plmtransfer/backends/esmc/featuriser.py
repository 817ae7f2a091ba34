"""The ESM C backend: EvolutionaryScale's ESM Cambrian (300M, 600M) from the official weight files.

A model is named by its registry name or alias (e.g. ``esmc_300m``), the Hugging Face
repository that holds its weights (``EvolutionaryScale/esmc-300m-2024-12``), a local ``.pth``
weight file (``esmc_300m_2024_12_v0.pth``), or a local copy of that repository (a directory
with ``data/weights/*.pth``). Names are read from the Hugging Face cache and downloaded there
when the network allows; with ``HF_HUB_OFFLINE=1`` or ``PLMTRANSFER_OFFLINE=1`` nothing is
downloaded. The 6B model has no weight file: EvolutionaryScale serves it only through its
Forge API, so asking for it is an error that says so.

The forward pass is this module's own (:class:`EsmcModel`), not EvolutionaryScale's ``esm``
package: that package installs a top-level module named ``esm``, as fair-esm does, so the two
cannot share one environment. The module's parameter names are those of the official files,
which load into it unchanged (``torch.load(..., weights_only=True)``: a plain state dict). It
replicates ``esm.models.esmc.ESMC.forward`` (esm 3.2.1) without flash attention: pre-norm
blocks with a fused LayerNorm + QKV projection, LayerNorm on queries and keys, rotary
positions, SwiGLU feed-forward, both residual branches divided by ``sqrt(layers / 36)``, and
a final bias-free LayerNorm. tests/test_esmc.py checks it against the reference package (in
an isolated environment) and against ``transformers``' ESMC model.

Layers follow fair-esm's numbering: 0 is the token embedding, ``i`` the output of block
``i``, and the last layer is the final LayerNorm's output (the reference's ``embeddings``,
which the study pooled). Tokens are ``<cls>`` + residues + ``<eos>`` as ESM C's tokenizer
writes them; ``<cls>`` is the BOS-like position.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from plmtransfer.backends.base import Embedded, LoadOptions, device_and_dtype
from plmtransfer.backends.esmc import spec_of_file
from plmtransfer.backends.hf.featuriser import HF_OFFLINE_ENV, hub_cache_dir, hub_offline
from plmtransfer.backends.weights import OFFLINE_ENV, safe_torch_load
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH
from plmtransfer.registry import ModelSpec

# ESM C's sequence vocabulary (esm.utils.constants.esm3.SEQUENCE_VOCAB); 64 embedding rows.
VOCAB = ("<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "|", "<mask>")
CLS, PAD, EOS, UNK = 0, 1, 2, 3
EMBEDDING_ROWS = 64
HEAD_DIM = 64  # every released ESM C: 960 / 15 and 1152 / 18
RESIDUES = "ACDEFGHIKLMNPQRSTVWYXBZUO"



def ffn_width(d_model: int) -> int:
    """SwiGLU hidden width: 8/3 of the model width rounded up to a multiple of 256 (the reference's rule)."""
    return int(((8 / 3 * d_model) + 255) // 256 * 256)


class SwiGLU(nn.Module):
    """``silu(a) * b`` on the two halves of the last dimension."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gate the second half with the first."""
        a, b = x.chunk(2, dim=-1)
        return functional.silu(a) * b


class Attention(nn.Module):
    """Multi-head self-attention with QK LayerNorm and rotary positions (the reference's names)."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.layernorm_qkv = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 3 * d_model, bias=False))
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.q_ln = nn.LayerNorm(d_model, bias=False)
        self.k_ln = nn.LayerNorm(d_model, bias=False)

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None, cos: torch.Tensor,
                sin: torch.Tensor) -> torch.Tensor:
        """Attention output for B x T x D input (``attend``: B x 1 x 1 x T, True = a real key)."""
        batch, length, _ = x.shape
        q, k, v = self.layernorm_qkv(x).chunk(3, dim=-1)
        q, k = self.q_ln(q).to(q.dtype), self.k_ln(k).to(q.dtype)

        def split_heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, -1).transpose(1, 2)

        q, k, v = split_heads(q), split_heads(k), split_heads(v)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        context = functional.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        return self.out_proj(context.transpose(1, 2).reshape(batch, length, -1))


class Block(nn.Module):
    """Pre-norm attention and SwiGLU feed-forward, each residual branch scaled down."""

    def __init__(self, d_model: int, heads: int, residue_scaling: float):
        super().__init__()
        self.attn = Attention(d_model, heads)
        hidden = ffn_width(d_model)
        self.ffn = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, 2 * hidden, bias=False),
                                 SwiGLU(), nn.Linear(hidden, d_model, bias=False))
        self.scaling = residue_scaling

    def forward(self, x: torch.Tensor, attend: torch.Tensor | None, cos: torch.Tensor,
                sin: torch.Tensor) -> torch.Tensor:
        """One block on B x T x D input."""
        x = x + self.attn(x, attend, cos, sin) / self.scaling
        return x + self.ffn(x) / self.scaling


class Stack(nn.Module):
    """The blocks and the final LayerNorm (the reference's ``transformer`` module)."""

    def __init__(self, d_model: int, heads: int, layers: int):
        super().__init__()
        scaling = math.sqrt(layers / 36)
        self.blocks = nn.ModuleList(Block(d_model, heads, scaling) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model, bias=False)


class EsmcModel(nn.Module):
    """ESM C's encoder: token embedding, blocks, final LayerNorm (no sequence head)."""

    def __init__(self, d_model: int, heads: int, layers: int):
        super().__init__()
        self.d_model, self.heads, self.layers = d_model, heads, layers
        self.embed = nn.Embedding(EMBEDDING_ROWS, d_model)
        self.transformer = Stack(d_model, heads, layers)

    def representations(self, tokens: torch.Tensor, layers: Sequence[int]) -> dict[int, torch.Tensor]:
        """``{layer: B x T x D}`` for the requested layers, running only up to the deepest one."""
        wanted = set(layers)
        deepest = max(wanted)
        x = self.embed(tokens)
        hidden = {0: x} if 0 in wanted else {}
        padding = tokens.eq(PAD)
        attend = (~padding)[:, None, None, :] if padding.any() else None
        cos, sin = rotary_tables(self.d_model // self.heads, tokens.shape[1], x)
        for index in range(deepest):
            x = self.transformer.blocks[index](x, attend, cos, sin)
            if index + 1 in wanted:
                hidden[index + 1] = x
        if deepest == self.layers:
            hidden[deepest] = self.transformer.norm(x)
        return hidden


def rotary_tables(head_dim: int, length: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of the rotary embedding (base 10000, halves rotated), computed in fp32."""
    steps = torch.arange(0, head_dim, 2, device=like.device, dtype=torch.float32)
    inv_freq = 1.0 / (10000 ** (steps / head_dim))
    angles = torch.outer(torch.arange(length, device=like.device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(like.dtype), angles.sin().to(like.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the last dimension."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


# ----------------------------------------------------------------------------- weights


def architecture_of(state: dict[str, torch.Tensor], source: Path) -> tuple[int, int, int]:
    """(d_model, heads, layers) read from a state dict's shapes; an error if it is not ESM C's."""
    if "embed.weight" not in state or "transformer.norm.weight" not in state:
        raise UserError(f"{source}: not an ESM C weight file (expected 'embed.weight' and "
                        "'transformer.norm.weight')")
    d_model = state["embed.weight"].shape[1]
    layers = len({key.split(".")[2] for key in state if key.startswith("transformer.blocks.")})
    return d_model, max(1, d_model // HEAD_DIM), layers


def load_weights(path: Path, heads: int | None = None) -> EsmcModel:
    """Build :class:`EsmcModel` from an official ``.pth`` file (a plain state dict), strictly.

    ``heads`` defaults to ``d_model / 64`` as in every released model; the sequence head
    (logits) is not loaded.
    """
    state = safe_torch_load(path)
    if not isinstance(state, dict):
        raise UserError(f"{path}: not an ESM C weight file (expected a state dict)")
    d_model, default_heads, layers = architecture_of(state, path)
    model = EsmcModel(d_model, heads or default_heads, layers)
    encoder = {key: value for key, value in state.items() if not key.startswith("sequence_head.")}
    try:
        model.load_state_dict(encoder, strict=True)
    except RuntimeError as error:
        raise UserError(f"{path}: does not match ESM C's layout ({str(error).splitlines()[0]})") from None
    return model.eval()


def resolve_weights(location: str, spec: ModelSpec | None) -> Path:
    """The ``.pth`` file for ``location``: a local file, a local repository copy, or the HF cache."""
    if spec is not None and spec.note and not spec.weights_file:
        raise UserError(f"model {spec.name}: {spec.note}; it cannot be run from local weights")
    path = Path(location).expanduser()
    if spec is None:
        candidates = [path] if path.suffix == ".pth" else sorted((path / "data" / "weights").glob("*.pth"))
        if len(candidates) != 1 or not candidates[0].is_file():
            raise UserError(f"{path}: ESM C weight file not found (give the .pth file, or a directory "
                            "with exactly one data/weights/*.pth)")
        return candidates[0]
    return cached_weights(spec)


def cached_weights(spec: ModelSpec) -> Path:
    """The registry model's weight file from the Hugging Face cache (downloaded unless offline)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(spec.hf_name, spec.weights_file, local_files_only=True))
    except Exception:  # huggingface_hub raises several types for "not in the cache"
        pass
    file_name = Path(spec.weights_file).name
    advice = (f"on a machine with network access run `hf download {spec.hf_name} {spec.weights_file}` "
              f"and copy its models--{spec.hf_name.replace('/', '--')} folder into {hub_cache_dir()}, "
              f"or pass the path of {file_name}")
    if hub_offline():
        raise UserError(f"model {spec.name} ({file_name}) is not in the Hugging Face cache and "
                        f"{OFFLINE_ENV} or {HF_OFFLINE_ENV} is set: {advice}")
    try:
        return Path(hf_hub_download(spec.hf_name, spec.weights_file))
    except Exception as error:  # network, licence gate (authentication) or unknown repository
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"model {spec.name} ({file_name}) is not in the Hugging Face cache and could "
                        f"not be downloaded ({reason}): {advice}") from None


def write_test_model(path: str | os.PathLike, d_model: int = 128, heads: int = 2, layers: int = 2,
                     seed: int = 0) -> Path:
    """Write a random ESM C in the official file layout (a state dict with the sequence head).

    Every weight, LayerNorms included, is drawn at random so that each one matters in the
    comparisons. The default shape keeps the released models' head width (64), so the file
    loads like an official one (heads = width / 64). The same ``seed`` gives the same file.
    Its embeddings carry no biology.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EsmcModel(d_model, heads, layers)
        state = {key: random_like(key, value) for key, value in model.state_dict().items()}
        state.update({
            "sequence_head.0.weight": torch.randn(d_model, d_model) * 0.05,
            "sequence_head.0.bias": torch.zeros(d_model),
            "sequence_head.2.weight": torch.ones(d_model), "sequence_head.2.bias": torch.zeros(d_model),
            "sequence_head.3.weight": torch.randn(EMBEDDING_ROWS, d_model) * 0.05,
            "sequence_head.3.bias": torch.zeros(EMBEDDING_ROWS),
        })
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
    return path


def random_like(key: str, value: torch.Tensor) -> torch.Tensor:
    """A random weight of ``value``'s shape: LayerNorm scales near 1, everything else small."""
    if value.ndim == 1:
        return (1 + 0.2 * torch.randn_like(value)) if key.endswith("weight") else 0.1 * torch.randn_like(value)
    return torch.randn_like(value) / math.sqrt(value.shape[-1])


# ----------------------------------------------------------------------------- featuriser


class EsmcFeaturiser:
    """An ESM C model on a device, with fair-esm's layer numbering."""

    has_bos = True
    has_contacts = False
    special_positions = 2
    alphabet = RESIDUES
    unusual_letters = ("X B Z U O are tokens of ESM C's vocabulary (X: unknown, B: Asx, Z: Glx, "
                       "U: selenocysteine, O: pyrrolysine) and are read as such")
    extras = ()
    max_residues = None  # rotary positions: no learned table that would end
    toks_per_batch = DEFAULT_TOKS_PER_BATCH

    def __init__(self, model: EsmcModel, name: str, family: str, identity: str,
                 device: torch.device, dtype: torch.dtype):
        self.model = model.to(device=device, dtype=dtype).eval()
        self.name, self.family, self.identity = name, family, identity
        self.num_layers = model.layers
        self.embed_dim = model.d_model
        self.device = device
        self.token_of = {token: index for index, token in enumerate(VOCAB)}

    def layer_dim(self, layer: int) -> int:
        """Every layer has the model's width."""
        return self.embed_dim

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """``<cls>`` + residues + ``<eos>``, right-padded with ``<pad>`` (unknown letters: ``<unk>``)."""
        tokens = torch.full((len(sequences), max(map(len, sequences)) + 2), PAD, dtype=torch.long)
        for row, sequence in enumerate(sequences):
            ids = [CLS, *(self.token_of.get(letter, UNK) for letter in sequence), EOS]
            tokens[row, :len(ids)] = torch.tensor(ids)
        return tokens

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool) -> list[Embedded]:
        """Forward one batch; return per-sequence float32 CPU tensors (residues only)."""
        tokens = self.tokenise(sequences).to(self.device, non_blocking=True)
        with torch.inference_mode():
            representations = {layer: tensor.float().cpu()
                                for layer, tensor in self.model.representations(tokens, layers).items()}
        return [Embedded(
            {layer: tensor[i, 1:len(sequence) + 1].clone() for layer, tensor in representations.items()},
            {layer: tensor[i, 0].clone() for layer, tensor in representations.items()},
        ) for i, sequence in enumerate(sequences)]


def load(location: str, spec: ModelSpec | None, options: LoadOptions) -> EsmcFeaturiser:
    """An ESM C model (registry name, HF repository, ``.pth`` file or repository copy) on the chosen device.

    A local file with an official file name (``esmc_300m_2024_12_v0.pth``) is that registry model.
    """
    path = resolve_weights(location, spec)
    spec = spec or spec_of_file(path)
    heads = spec.heads if spec is not None else None
    model = load_weights(path, heads)
    if spec is not None and (model.d_model, model.layers) != (spec.embed_dim, spec.layers):
        raise UserError(f"{path}: has {model.layers} layers of width {model.d_model}, but {spec.name} "
                        f"has {spec.layers} of width {spec.embed_dim}")
    device, dtype = device_and_dtype(options)
    name = spec.name if spec is not None else path.stem
    return EsmcFeaturiser(model, name, spec.family if spec is not None else "esmc", str(path), device, dtype)
