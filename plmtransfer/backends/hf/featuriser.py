"""The Hugging Face backend: ESM-2, ESM-1v and ESM-1b in ``transformers``' layout (``EsmModel``).

(Every other transformers encoder — T5, BERT, any ``AutoModel`` — is served by :mod:`.encoders`;
:func:`load` picks by the directory's ``model_type``.)

A model is named by its hub name (``facebook/esm2_t33_650M_UR50D``, the registry's
``hf_name``) or by a local directory in the Hugging Face layout (``config.json`` beside
``model.safetensors`` or ``pytorch_model.bin``, and the tokenizer's ``vocab.txt``). Hub names
are read from the Hugging Face cache (``$HF_HUB_CACHE``, default
``~/.cache/huggingface/hub``) and downloaded there when the network allows; with
``HF_HUB_OFFLINE=1`` or ``PLMTRANSFER_OFFLINE=1`` nothing is downloaded and a missing model
is one sentence saying what to download and where.

:class:`HfEsmFeaturiser` maps ``transformers``' output onto fair-esm's conventions:
``hidden_states[i]`` is ``representations[i]`` (0 = the embedding output) and the last
layer is the output of the final layer norm (``last_hidden_state``), as fair-esm's
``representations[num_layers]``. ESM-2 (rotary) models run the model's own modules layer by
layer (:func:`rotary_esm_forward`: fused attention, one-op GELU, stopping at the
deepest requested layer; explicit attention only in layers whose maps are asked for);
ESM-1b/1v run ``EsmModel.forward`` (eager attention when the maps are asked for);
BOS and EOS surround every sequence as in fair-esm. The attention mask is always passed,
built from the padding tokens, so a sequence's vectors do not depend on what it was batched
with (see docs/backends.md for what happens without it). Contacts come from the model's
contact head (eager attention, which returns the attention maps).

:func:`convert_esm2_checkpoint` writes a fair-esm ESM-2 checkpoint (the official ``.pt``
layout) as a Hugging Face directory; the tests use it on random test models to show that this
backend and the fair-esm backend give the same numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.nn import functional

from plmtransfer.backends.base import Embedded, LoadOptions, device_and_dtype, split_bos_residues
from plmtransfer.backends.esm.featuriser import EsmTokens, attention, rotate_half
from plmtransfer.backends.weights import OFFLINE_ENV, is_offline, safe_torch_load
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path
from plmtransfer.options import DEFAULT_TOKS_PER_BATCH
from plmtransfer.registry import ModelSpec

HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
# What a model needs from its hub repository: config, weights (safetensors; pytorch_model.bin only when the
# repository has no safetensors) and every tokenizer file transformers reads (vocab.txt, SentencePiece, JSON).
HF_FILES = ("config.json", "*.safetensors", "vocab.txt", "spiece.model", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json")
HF_BIN_WEIGHTS = "pytorch_model.bin"
# fair-esm's ESM-1b alphabet, which every ESM-2/1v/1b checkpoint uses: the HF tokenizer's vocab.txt.
ESM_VOCAB = ("<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-",
             "<null_1>", "<mask>")
LAYER_KEYS = {  # fair-esm ESM-2 layer parameter -> transformers EsmLayer parameter
    "self_attn.q_proj": "attention.self.query",
    "self_attn.k_proj": "attention.self.key",
    "self_attn.v_proj": "attention.self.value",
    "self_attn.out_proj": "attention.output.dense",
    "self_attn_layer_norm": "attention.LayerNorm",
    "final_layer_norm": "LayerNorm",
    "fc1": "intermediate.dense",
    "fc2": "output.dense",
}


def hub_offline() -> bool:
    """True when neither this project nor huggingface_hub may use the network."""
    return is_offline() or os.environ.get(HF_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def is_hf_directory(location: str | os.PathLike) -> bool:
    """True for a local directory in the Hugging Face layout (it holds ``config.json``)."""
    return (Path(location).expanduser() / "config.json").is_file()


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded repositories."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def resolve_directory(location: str, spec: ModelSpec | None) -> Path:
    """The local directory holding the model: ``location`` itself, or the hub cache's snapshot.

    A hub name is looked up in the cache first; when it is absent it is downloaded unless
    offline, and any failure is one sentence naming the repository and the cache directory.
    """
    if is_hf_directory(location):
        return Path(location).expanduser()
    from huggingface_hub import snapshot_download

    repository = spec.hf_name if spec is not None and spec.hf_name else location
    try:
        return Path(snapshot_download(repository, allow_patterns=list(HF_FILES), local_files_only=True))
    except Exception:  # huggingface_hub raises several types for "not in the cache"
        pass
    advice = (f"on a machine with network access run `hf download {repository}` (or "
              f"huggingface_hub.snapshot_download) and copy its models--{repository.replace('/', '--')} "
              f"folder into {hub_cache_dir()}, or pass a local directory in the Hugging Face layout")
    if hub_offline():
        raise UserError(f"model {repository} is not in the Hugging Face cache and {OFFLINE_ENV} or "
                        f"{HF_OFFLINE_ENV} is set: {advice}")
    try:
        directory = Path(snapshot_download(repository, allow_patterns=list(HF_FILES)))
        if not any(directory.glob("*.safetensors")):
            directory = Path(snapshot_download(repository, allow_patterns=[*HF_FILES, HF_BIN_WEIGHTS]))
        return directory
    except Exception as error:  # network, authentication or unknown repository
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"model {repository} is not in the Hugging Face cache and could not be "
                        f"downloaded ({reason}): {advice}") from None


# ----------------------------------------------------------------------------- converter


def convert_esm2_checkpoint(checkpoint: str | os.PathLike, output_dir: str | os.PathLike) -> Path:
    """Write a fair-esm ESM-2 checkpoint (``<name>.pt`` + optional contact regression) as an HF directory.

    Reads the official layout (``encoder.sentence_encoder.*``, ``cfg``) with
    :func:`~plmtransfer.backends.weights.safe_torch_load` and writes ``config.json``,
    ``model.safetensors`` (``EsmForMaskedLM`` names) and the tokenizer files. Returns the directory.
    """
    from safetensors.torch import save_file

    checkpoint = Path(checkpoint)
    data = safe_torch_load(checkpoint)
    if not isinstance(data, dict) or "cfg" not in data or "model" not in data:
        raise UserError(f"{checkpoint}: not a fair-esm ESM-2 checkpoint (expected keys 'model' and 'cfg')")
    config = data["cfg"]["model"]
    state = hf_state_dict(data["model"], config.encoder_layers)
    regression = checkpoint.with_name(f"{checkpoint.stem}-contact-regression.pt")
    if regression.is_file():
        for key, value in safe_torch_load(regression)["model"].items():
            state[f"esm.{key}"] = value
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(output_dir / "model.safetensors") as temporary:
        save_file({key: value.contiguous() for key, value in state.items()}, str(temporary),
                  metadata={"format": "pt"})
    hf_config = {
        "architectures": ["EsmForMaskedLM"], "model_type": "esm", "vocab_size": len(ESM_VOCAB),
        "hidden_size": config.encoder_embed_dim, "num_hidden_layers": config.encoder_layers,
        "num_attention_heads": config.encoder_attention_heads,
        "intermediate_size": config.encoder_ffn_embed_dim, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 1026, "layer_norm_eps": 1e-5,
        "position_embedding_type": "rotary", "emb_layer_norm_before": False,
        "token_dropout": bool(config.token_dropout), "mask_token_id": ESM_VOCAB.index("<mask>"),
        "pad_token_id": ESM_VOCAB.index("<pad>"), "is_folding_model": False, "torch_dtype": "float32",
    }
    files = {
        "config.json": json.dumps(hf_config, indent=2) + "\n",
        "vocab.txt": "\n".join(ESM_VOCAB) + "\n",
        "tokenizer_config.json": json.dumps({"tokenizer_class": "EsmTokenizer",
                                             "model_max_length": 1026}) + "\n",
        "special_tokens_map.json": json.dumps({"cls_token": "<cls>", "eos_token": "<eos>",
                                               "mask_token": "<mask>", "pad_token": "<pad>",
                                               "unk_token": "<unk>"}) + "\n",
    }
    for name, text in files.items():
        with atomic_path(output_dir / name) as temporary:
            Path(temporary).write_text(text)
    return output_dir


def hf_state_dict(fair_state: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """Rename an official ESM-2 state dict to ``EsmForMaskedLM``'s parameter names."""
    encoder, state = "encoder.sentence_encoder.", {}
    state["esm.embeddings.word_embeddings.weight"] = fair_state[f"{encoder}embed_tokens.weight"]
    for index in range(layers):
        for fair_name, hf_name in LAYER_KEYS.items():
            for kind in ("weight", "bias"):
                state[f"esm.encoder.layer.{index}.{hf_name}.{kind}"] = \
                    fair_state[f"{encoder}layers.{index}.{fair_name}.{kind}"]
    for kind in ("weight", "bias"):
        state[f"esm.encoder.emb_layer_norm_after.{kind}"] = fair_state[f"{encoder}emb_layer_norm_after.{kind}"]
        state[f"lm_head.dense.{kind}"] = fair_state[f"encoder.lm_head.dense.{kind}"]
        state[f"lm_head.layer_norm.{kind}"] = fair_state[f"encoder.lm_head.layer_norm.{kind}"]
    state["esm.rotary_embeddings.inv_freq"] = fair_state[f"{encoder}layers.0.self_attn.rot_emb.inv_freq"]
    state["lm_head.bias"] = fair_state["encoder.lm_head.bias"]
    state["lm_head.decoder.weight"] = fair_state["encoder.lm_head.weight"]
    return {key: value.clone() for key, value in state.items()}


# ----------------------------------------------------------------------------- featuriser



def quiet_from_pretrained(model_class, directory: Path, **kwargs):
    """``model_class.from_pretrained(directory, **kwargs)`` and its loading info, without
    transformers' load report and progress bar; an unreadable file is one UserError line."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return model_class.from_pretrained(directory, output_loading_info=True, **kwargs)
    except Exception as error:  # transformers and safetensors raise many types for unreadable files
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{directory}: cannot load the model's weights ({first_line})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()

class HfEsmFeaturiser(EsmTokens):
    """A transformers ``EsmModel`` on a device, answering with fair-esm's layer numbering."""

    def __init__(self, directory: Path, spec: ModelSpec | None, device: torch.device, dtype: torch.dtype):
        from transformers import AutoConfig, EsmModel

        config = AutoConfig.from_pretrained(directory)
        if config.model_type != "esm" or getattr(config, "is_folding_model", False):
            raise UserError(f"{directory}: not an ESM language model in the Hugging Face layout "
                            f"(model_type {config.model_type!r})")
        # quietly: the load report lists the LM head EsmModel does not use
        model, info = quiet_from_pretrained(EsmModel, directory, add_pooling_layer=False,
                                            attn_implementation="sdpa", dtype=dtype)
        self.model = model.to(device).eval()
        vocabulary_file = directory / "vocab.txt"
        vocabulary = vocabulary_file.read_text().split() if vocabulary_file.is_file() else ESM_VOCAB
        self.token_of = {token: index for index, token in enumerate(vocabulary)}
        self.name = spec.name if spec is not None else directory.name
        self.family = spec.family if spec is not None else "esm"
        self.identity = str(directory.resolve())
        self.num_layers = config.num_hidden_layers
        self.embed_dim = config.hidden_size
        contact_weights = not any(key.startswith("contact_head") for key in info["missing_keys"])
        self.has_contacts = contact_weights and (spec is None or spec.has_contact_regression)
        # HF's ESM configs count positions from padding_idx + 1 = 2 (1026 for fair-esm's 1024)
        self.max_residues = config.max_position_embeddings - 2 - self.special_positions
        self.toks_per_batch = DEFAULT_TOKS_PER_BATCH
        self.attention_heads = config.num_attention_heads
        self.device = device

    def layer_dim(self, layer: int) -> int:
        """Every layer of a transformer has the model's width."""
        return self.embed_dim

    def tokenise(self, sequences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``<cls>`` + residues + ``<eos>``, right-padded, and the attention mask (1 = real token).

        The ids come from the directory's ``vocab.txt`` (fair-esm's alphabet when it has none),
        as ``EsmTokenizer`` and fair-esm's batch converter write them.
        """
        ids = self.token_of
        tokens = torch.full((len(sequences), max(map(len, sequences)) + 2), ids["<pad>"], dtype=torch.long)
        for row, sequence in enumerate(sequences):
            row_ids = [ids["<cls>"], *(ids.get(letter, ids["<unk>"]) for letter in sequence), ids["<eos>"]]
            tokens[row, :len(row_ids)] = torch.tensor(row_ids)
        return tokens, tokens.ne(ids["<pad>"]).long()

    def embed(self, sequences: Sequence[str], layers: Sequence[int], contacts: bool,
              attention_layers: Sequence[int] = ()) -> list[Embedded]:
        """Forward one batch; return per-sequence float32 CPU tensors (residues only).

        Rotary (ESM-2) models run :func:`rotary_esm_forward` on the model's own modules;
        ESM-1b/1v run ``EsmModel.forward`` with its hidden states (and, for
        ``attention_layers``, its attentions, with eager attention).
        """
        tokens, mask = (tensor.to(self.device) for tensor in self.tokenise(sequences))
        with torch.inference_mode():
            if self.model.rotary_embeddings is not None:
                hidden, attentions = rotary_esm_forward(self.model, tokens, mask, layers, attention_layers)
            else:
                with self.eager_attention(bool(attention_layers)):
                    output = self.model(input_ids=tokens, attention_mask=mask, output_hidden_states=True,
                                        output_attentions=bool(attention_layers))
                hidden = {layer: self.layer_output(output, layer) for layer in layers}
                attentions = {layer: output.attentions[layer - 1] for layer in attention_layers}
            representations = {layer: tensor.float().cpu() for layer, tensor in hidden.items()}
            attention_maps = {layer: maps.float().cpu() for layer, maps in attentions.items()}
            contact_maps = self.contact_maps(tokens, mask) if contacts else None
        return split_bos_residues(sequences, representations, contact_maps,
                                  attention_maps if attention_layers else None)

    @contextlib.contextmanager
    def eager_attention(self, needed: bool = True) -> Iterator[None]:
        """Run the model with eager attention (the only kind that returns the maps) when ``needed``."""
        if not needed:
            yield
            return
        self.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            self.model.set_attn_implementation("sdpa")

    def layer_output(self, output, layer: int) -> torch.Tensor:
        """fair-esm's ``representations[layer]``: the final layer is taken after the last layer norm."""
        return output.last_hidden_state if layer == self.num_layers else output.hidden_states[layer]

    def contact_maps(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Contact probabilities from the contact head (needs eager attention to see the maps)."""
        with self.eager_attention():
            return self.model.predict_contacts(tokens, mask).float().cpu()


def rotary_esm_representations(model, tokens: torch.Tensor, mask: torch.Tensor,
                               layers: Sequence[int]) -> dict[int, torch.Tensor]:
    """``EsmModel.forward``'s hidden states ``{layer: B x T x D}`` (:func:`rotary_esm_forward`, no maps)."""
    return rotary_esm_forward(model, tokens, mask, layers)[0]


def rotary_esm_forward(model, tokens: torch.Tensor, mask: torch.Tensor, layers: Sequence[int],
                       attention_layers: Sequence[int] = ()
                       ) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """``EsmModel.forward``'s hidden states and attentions, computing only up to the deepest requested layer.

    Uses the model's own modules: ``embeddings`` (token dropout, masked padding), the rotary
    tables of ``rotary_embeddings``, and per layer the same pre-norm attention and GELU
    feed-forward as ``EsmLayer``, with fused attention and a one-op GELU; the last layer goes
    through ``emb_layer_norm_after``. Layers in ``attention_layers`` compute their attention
    explicitly (float32 softmax) and keep it. Returns ``({layer: B x T x D}, {layer: B x heads x
    T x T})`` in fair-esm's numbering: the maps are ``output_attentions=True``'s
    ``attentions[layer - 1]``.
    """
    wanted = set(layers)
    keep_maps = set(attention_layers)
    deepest = max(wanted)
    x = model.embeddings(input_ids=tokens, attention_mask=mask)
    hidden = {0: x} if 0 in wanted else {}
    maps = {}
    attend = None if bool(mask.all()) else mask.bool()[:, None, None, :]
    positions = torch.arange(tokens.shape[1], device=tokens.device)[None]
    cos, sin = (table[:, None] for table in model.rotary_embeddings(x, positions))
    for index in range(deepest):
        x, weights = esm_layer(model.encoder.layer[index], x, attend, cos, sin,
                               keep_weights=index + 1 in keep_maps)
        if weights is not None:
            maps[index + 1] = weights
        if index + 1 in wanted:
            hidden[index + 1] = x
    if deepest == model.config.num_hidden_layers:
        hidden[deepest] = model.encoder.emb_layer_norm_after(x)
    return hidden, maps


def esm_layer(layer, x: torch.Tensor, attend: torch.Tensor | None, cos: torch.Tensor,
              sin: torch.Tensor, keep_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One transformers ``EsmLayer`` (rotary self-attention + GELU feed-forward) on B x T x D input.

    Returns the layer's output and, with ``keep_weights``, its attention weights (else None).
    """
    self_attention = layer.attention.self
    batch, length, _ = x.shape
    head_dim = self_attention.attention_head_size

    def split_heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, -1, head_dim).transpose(1, 2)

    h = layer.attention.LayerNorm(x)
    q = split_heads(self_attention.query(h) * head_dim**-0.5)
    k = split_heads(self_attention.key(h))
    v = split_heads(self_attention.value(h))
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    context, weights = attention(q, k, v, attend, keep_weights)
    x = x + layer.attention.output.dense(context.transpose(1, 2).reshape(batch, length, -1))
    return x + layer.output.dense(functional.gelu(layer.intermediate.dense(layer.LayerNorm(x)))), weights


def load(location: str, spec: ModelSpec | None, options: LoadOptions):
    """A model in the Hugging Face layout (hub name or local directory) on the chosen device.

    ESM models (``model_type`` ``esm``) get :class:`HfEsmFeaturiser` (fair-esm's tokens, contacts,
    attention maps); every other encoder :class:`~plmtransfer.backends.hf.encoders.HfEncoderFeaturiser`.
    """
    directory = resolve_directory(location, spec)
    device, dtype = device_and_dtype(options)
    from plmtransfer.backends.hf.encoders import HfEncoderFeaturiser, model_type

    if model_type(directory, spec) == "esm":
        return HfEsmFeaturiser(directory, spec, device, dtype)
    return HfEncoderFeaturiser(directory, spec, device, dtype)
