"""What fine-tuning trains: a backend's encoder, a two-layer head, and the loop that fits them.

Shared by regression fine-tuning (:mod:`plmtransfer.learn.finetune`) and the GO-term function
caller (:mod:`plmtransfer.learn.function_caller`):

- :func:`load_encoder` builds a trainable encoder from a model location (a registry name,
  alias or Hugging Face name, which resolves through the registry to the checkpoint with the
  same weights; or a local checkpoint) with the encoder its family registers
  (``plmtransfer/backends/<family>/encoder.py``). The encoder maps tokens to one vector per
  protein: the mean of the last layer over the residues (the study's ``mean`` compression),
  so frozen and fine-tuned models see the protein the same way.
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

from plmtransfer.backends import encoder_loaders, resolve_backend
from plmtransfer.backends.base import DTYPES
from plmtransfer.backends.weights import safe_torch_load
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path

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

# {backend: load_encoder(location) -> nn.Module}: each family's trainable encoder, from its registration.
ENCODERS: dict[str, Callable[[str], nn.Module]] = encoder_loaders()


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
