"""The one-hot family: the ``onehot`` baseline every pLM must beat (no weights)."""

from __future__ import annotations

from plmtransfer.backends import Family
from plmtransfer.registry import NO_WEIGHTS, ModelSpec

ONEHOT = "onehot"

MODELS: tuple[ModelSpec, ...] = (ModelSpec(ONEHOT, ONEHOT, ONEHOT, ONEHOT, "0", 0, 0, 20, licence=NO_WEIGHTS),)

FAMILY = Family(ONEHOT, MODELS)
