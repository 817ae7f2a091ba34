"""The fair-esm backend: ESM-2, ESM-1b and ESM-1v checkpoints, safely loaded, and their featuriser.

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

:class:`EsmFeaturiser` runs ESM-2 layer by layer (:func:`esm2_forward`: fused
``scaled_dot_product_attention``, no logits, stops at the deepest requested layer),
replicating ``esm.model.esm2.ESM2.forward`` exactly; only the layers whose attention maps
are asked for compute them explicitly (fair-esm's float32 softmax). ESM-1b/1v and contact maps
use fair-esm's own forward (``need_head_weights`` for the attention maps).
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional

from plmtransfer.backends.base import Embedded, LoadOptions, device_and_dtype, split_bos_residues
from plmtransfer.backends.esm import MODELS, TEST_ARCHITECTURES, test_model_name
from plmtransfer.backends.weights import fetch_to_cache, safe_torch_load
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH
from plmtransfer.registry import ModelSpec, find_spec

LOCAL_ADVICE = "or pass the path of a local .pt checkpoint"

MODEL_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"
REGRESSION_URL = "https://dl.fbaipublicfiles.com/fair-esm/regression/{name}-contact-regression.pt"
ESM_RESIDUES = "ACDEFGHIKLMNPQRSTVWYXBZUO"


def hub_checkpoint_dir() -> Path:
    """The directory where fair-esm (through torch.hub) caches downloaded checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


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
    if spec is None or spec.backend != "esm":
        known = ", ".join(spec.name for spec in MODELS)
        raise UserError(f"unknown model {location!r}: use one of {known}, "
                        "their short aliases (e.g. esm2_150M), or a path to a local .pt file")
    cache = hub_checkpoint_dir()
    path = fetch_to_cache(MODEL_URL.format(name=spec.name), cache / f"{spec.name}.pt",
                          f"model {spec.name}", LOCAL_ADVICE)
    if spec.has_contact_regression:
        fetch_to_cache(REGRESSION_URL.format(name=spec.name),
                       cache / f"{spec.name}-contact-regression.pt",
                       f"contact-regression weights of {spec.name}", LOCAL_ADVICE)
    return path


def regression_path(checkpoint: Path) -> Path:
    """Where fair-esm expects the contact-regression weights of ``checkpoint``."""
    return checkpoint.with_name(f"{checkpoint.stem}-contact-regression.pt")


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


# ----------------------------------------------------------------------------- featuriser


class EsmTokens:
    """What every ESM-alphabet featuriser (fair-esm, Hugging Face) tells the orchestration."""

    has_bos = True
    special_positions = 2
    alphabet = ESM_RESIDUES
    unusual_letters = ("X B Z U O are tokens of the ESM alphabet (X: unknown, B: Asx, Z: Glx, "
                       "U: selenocysteine, O: pyrrolysine) and are read as such")
    extras = ()


class EsmFeaturiser(EsmTokens):
    """A fair-esm model on a device; ESM-2 runs through :func:`esm2_representations`."""

    def __init__(self, loaded: LoadedModel, device: torch.device, dtype: torch.dtype):
        from esm.model.esm2 import ESM2

        self.model = loaded.model.to(device=device, dtype=dtype).eval()
        self.esm_alphabet = loaded.alphabet
        self.name = loaded.name
        spec = find_spec(loaded.name)
        self.family = spec.family if spec is not None else "esm2" if isinstance(self.model, ESM2) else "esm"
        self.identity = str(loaded.checkpoint)
        self.num_layers = loaded.num_layers
        self.embed_dim = loaded.embed_dim
        self.has_contacts = loaded.has_contact_weights
        self.device = device
        self.is_esm2 = isinstance(self.model, ESM2)
        self.max_residues = self.max_positions() - self.special_positions
        self.toks_per_batch = DEFAULT_TOKS_PER_BATCH
        self.attention_heads = self.model.layers[0].self_attn.num_heads

    def layer_dim(self, layer: int) -> int:
        """Every layer of a transformer has the model's width."""
        return self.embed_dim

    def max_positions(self) -> int:
        """Longest token sequence the model accepts (ESM-1b's learned positions stop at 1024)."""
        args = getattr(self.model, "args", None)
        return int(getattr(args, "max_positions", 1024)) if args is not None else 1024

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """BOS + residues + EOS, padded: fair-esm's batch converter without truncation."""
        converter = self.esm_alphabet.get_batch_converter()
        _, _, tokens = converter([(str(i), sequence) for i, sequence in enumerate(sequences)])
        return tokens

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool,
              attention_layers: Sequence[int] = ()) -> list[Embedded]:
        """Forward one batch; return per-sequence float32 CPU tensors (residues only).

        ``attention_layers``: layers (1..num_layers) whose attention maps to return, all heads.
        """
        tokens = self.tokenise(sequences).to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.is_esm2 and not contacts:
                representations, attentions = esm2_forward(self.model, tokens, layers, attention_layers)
                contact_maps = None
            else:
                output = self.model(tokens, repr_layers=list(layers), return_contacts=contacts,
                                    need_head_weights=bool(attention_layers))
                representations = output["representations"]
                attentions = {layer: output["attentions"][:, layer - 1] for layer in attention_layers}
                contact_maps = output["contacts"].float().cpu() if contacts else None
            representations = {layer: tensor.float().cpu()
                               for layer, tensor in representations.items()}
            attention_maps = {layer: maps.float().cpu() for layer, maps in attentions.items()}
        return split_bos_residues(sequences, representations, contact_maps,
                                  attention_maps if attention_layers else None)


def esm2_representations(model, tokens: torch.Tensor, layers: Sequence[int]) -> dict[int, torch.Tensor]:
    """ESM2.forward's hidden representations ``{layer: B x T x D}`` (:func:`esm2_forward`, no maps)."""
    return esm2_forward(model, tokens, layers)[0]


def esm2_forward(model, tokens: torch.Tensor, layers: Sequence[int], attention_layers: Sequence[int] = ()
                 ) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """ESM2.forward's representations and attention maps, computing only up to the deepest requested layer.

    Replicates ``esm.model.esm2.ESM2.forward``: embedding scale, token-dropout rescaling,
    zeroed padding, key-padding mask, and ``emb_layer_norm_after`` on the last layer only
    when it is the model's final layer. Works in (batch, time, channel) layout, uses fused
    attention and skips the LM head. Layers in ``attention_layers`` (each also in ``layers``)
    compute their attention explicitly and keep it. Returns ``({layer: B x T x D}, {layer: B x
    heads x T x T})``; the maps are ``forward(need_head_weights=True)["attentions"][:, layer - 1]``.
    """
    wanted = set(layers)
    keep_maps = set(attention_layers)
    deepest = max(wanted)
    padding_mask = tokens.eq(model.padding_idx)
    x = model.embed_scale * model.embed_tokens(tokens)
    if model.token_dropout:
        is_mask = tokens == model.mask_idx
        x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
        mask_ratio_train = 0.15 * 0.8
        src_lengths = (~padding_mask).sum(-1)
        mask_ratio_observed = is_mask.sum(-1).to(x.dtype) / src_lengths
        x = x * (1 - mask_ratio_train) / (1 - mask_ratio_observed)[:, None, None]
    x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
    hidden = {0: x} if 0 in wanted else {}
    maps = {}
    attend = None if not padding_mask.any() else (~padding_mask)[:, None, None, :]
    cos, sin = rotary_tables(model.layers[0].self_attn, tokens.shape[1], x) if deepest else (None, None)
    for index in range(deepest):
        x, weights = transformer_layer(model.layers[index], x, attend, cos, sin,
                                       keep_weights=index + 1 in keep_maps)
        if weights is not None:
            maps[index + 1] = weights
        if index + 1 in wanted:
            hidden[index + 1] = x
    if deepest == model.num_layers:
        hidden[deepest] = model.emb_layer_norm_after(x)
    return hidden, maps


def rotary_tables(attention, length: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of ESM-2's rotary embedding for ``length`` positions.

    The inverse frequencies are recomputed in fp32 with ``RotaryEmbedding``'s formula (the
    model's buffer may have been cast to bfloat16, which would blur positions).
    """
    dim = attention.head_dim
    steps = torch.arange(0, dim, 2, device=like.device, dtype=torch.float32)
    inv_freq = 1.0 / (10000 ** (steps / dim))
    positions = torch.arange(length, device=like.device, dtype=torch.float32)
    frequencies = torch.outer(positions, inv_freq)
    angles = torch.cat((frequencies, frequencies), dim=-1)
    return angles.cos().to(like.dtype), angles.sin().to(like.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the last dimension, as in ``esm.rotary_embedding``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attend: torch.Tensor | None,
              keep_weights: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scaled dot-product attention of B x heads x T x head_dim inputs (``q`` already scaled).

    Fused (``scaled_dot_product_attention``) unless ``keep_weights``; then explicit, as fair-esm's
    ``MultiheadAttention``: scores in the model's dtype, masked keys at -inf, softmax in float32,
    and the float32 weights (B x heads x T x T) are returned with the context.
    """
    if not keep_weights:
        return functional.scaled_dot_product_attention(q, k, v, attn_mask=attend, scale=1.0), None
    scores = q @ k.transpose(-1, -2)
    if attend is not None:
        scores = scores.masked_fill(~attend, float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1)
    return weights.to(v.dtype) @ v, weights


def transformer_layer(layer, x: torch.Tensor, attend: torch.Tensor | None, cos: torch.Tensor,
                      sin: torch.Tensor, keep_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One ESM-2 ``TransformerLayer`` (pre-norm attention + GELU FFN) on B x T x D input.

    Returns the layer's output and, with ``keep_weights``, its attention weights (else None).
    """
    attention_module = layer.self_attn
    batch, length, _ = x.shape
    heads, head_dim = attention_module.num_heads, attention_module.head_dim
    h = layer.self_attn_layer_norm(x)

    def split_heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, head_dim).transpose(1, 2)

    q = split_heads(attention_module.q_proj(h) * attention_module.scaling)
    k = split_heads(attention_module.k_proj(h))
    v = split_heads(attention_module.v_proj(h))
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    context, weights = attention(q, k, v, attend, keep_weights)
    context = context.transpose(1, 2).reshape(batch, length, heads * head_dim)
    x = x + attention_module.out_proj(context)
    h = layer.final_layer_norm(x)
    return x + layer.fc2(functional.gelu(layer.fc1(h))), weights


def load(location: str, spec: ModelSpec | None, options: LoadOptions) -> EsmFeaturiser:
    """A fair-esm checkpoint (registry name, alias or local ``.pt``) on the chosen device and dtype."""
    from esm.model.msa_transformer import MSATransformer

    loaded = load_model(location)
    if isinstance(loaded.model, MSATransformer):
        raise UserError(f"{location}: MSA Transformer models take alignments, not sequences")
    device, dtype = device_and_dtype(options)
    return EsmFeaturiser(loaded, device, dtype)
