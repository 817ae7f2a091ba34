"""Model backends: one folder per model family, each registered once in its ``__init__.py``.

A family folder (``esm/``, ``hf/``, ``esmc/``, ``unirep/``, ``onehot/``) holds everything about
its models: its registration (:class:`Family`: the registry entries, which of its modules serve
the featuriser, the language-model head and the trainable encoder, which local locations it
reads, what a local model is called, the random test model it writes), and those modules.
Shared here: the featuriser interface (:mod:`.base`), weights on disk and on the network
(:mod:`.weights`), the language-model interfaces (:mod:`.language_model`), and the doors that
resolve a model name to its family: :func:`resolve_backend`, :func:`load_featuriser`,
:func:`load_encoder`, :func:`describe_local`, :func:`random_model_writer`.

This module and the families' ``__init__`` modules import nothing heavy (the registry reads its
entries from them); a family's other modules are imported only when used, so a missing optional
dependency of one family never breaks another.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from plmtransfer.errors import UserError
from plmtransfer.registry import ModelSpec, find_spec, registered_models

if TYPE_CHECKING:
    from torch import nn

    from plmtransfer.backends.base import Featuriser, LoadOptions

# The family folders in registration order (the order of the registry's model table).
FAMILY_FOLDERS = ("esm", "hf", "esmc", "unirep", "onehot")
LAYERS_IN_NAME = re.compile(r"_t(\d+)_")


@dataclass(frozen=True)
class RandomModelWriter:
    """A family's writer of randomly initialised test models (``scripts/make_test_model.py``).

    ``architectures``: ``{name: (layers, embedding dimension, attention heads)}``; ``default_name(architecture)``:
    the file stem written when none is given; ``module``: the family's module whose
    ``write_test_model(output_dir, architecture, seed, name) -> Path`` writes one (imported when called).
    """

    architectures: dict[str, tuple[int, int, int]]
    default_name: Callable[[str], str]
    module: str = "featuriser"


@dataclass(frozen=True)
class Family:
    """One model family's registration: its models, the modules that serve them, its local locations.

    Parameters
    ----------
    name : str
        The backend name (the folder's name); registry entries name it as ``ModelSpec.backend``.
    models : tuple of ModelSpec
        The family's registry entries, in the order of the model table.
    featuriser, language_model, encoder : str
        Module names inside the family folder that serve the featuriser (``load(location, spec,
        options)``), the language-model head (``load_language_model(location, spec, options)``) and
        the trainable encoder (``load_encoder(location)``); empty when the family has none.
    claims : callable, optional
        ``claims(location)``: True when a location that is no registry name is this family's
        (a local file or directory in its layout, a hub name). Claims of different families
        never overlap, except that of the ``fallback`` family, asked only when no other claims.
    fallback : bool
        True for the one family that takes any path no other family claims.
    local_model : callable, optional
        ``local_model(location) -> (directory name, last layer or None)`` for a claimed location;
        :func:`local_model_default` when not given.
    random_model : callable, optional
        ``random_model(name) -> (family, size, parameters) or None``: what a randomly initialised
        test model of this family is, from the name its writer gives it.
    test_models : RandomModelWriter, optional
        The writer of the family's random test models (one family offers it: the test model of the CLI).
    """

    name: str
    models: tuple[ModelSpec, ...] = ()
    featuriser: str = "featuriser"
    language_model: str = ""
    encoder: str = ""
    claims: Callable[[str], bool] | None = None
    fallback: bool = False
    local_model: Callable[[str], tuple[str, int | None]] | None = None
    random_model: Callable[[str], tuple[str, str, float] | None] | None = None
    test_models: RandomModelWriter | None = None

    def module(self, part: str) -> ModuleType:
        """The family's module serving ``part`` (``featuriser``, ``language_model``, ``encoder``)."""
        return importlib.import_module(f"{__name__}.{self.name}.{getattr(self, part)}")


@functools.cache
def families() -> tuple[Family, ...]:
    """Every family's registration, in registration order (imports only the families' ``__init__``)."""
    return tuple(importlib.import_module(f"{__name__}.{folder}").FAMILY for folder in FAMILY_FOLDERS)


def family(name: str) -> Family:
    """The registration of the family whose backend name is ``name``."""
    for candidate in families():
        if candidate.name == name:
            return candidate
    raise UserError(f"model backend {name!r} is not one of this version's: "
                    f"{', '.join(candidate.name for candidate in families())}")


def resolve_backend(location: str) -> tuple[str, ModelSpec | None]:
    """The backend that serves ``location`` and its registry entry (None for a local location).

    Registry names and aliases map to their entry's backend, and the entry's Hugging Face
    name to ``hf_backend``. Any other location goes to the family that claims it (each family's
    ``claims``; the fallback family last). Anything else is one error listing what is accepted.
    """
    spec = find_spec(location)
    if spec is not None:
        return (spec.hf_backend if location == spec.hf_name else spec.backend), spec
    ordered = sorted(families(), key=lambda candidate: candidate.fallback)
    for candidate in ordered:
        if candidate.claims is not None and candidate.claims(location):
            return candidate.name, None
    known = ", ".join(spec.alias for spec in registered_models())
    raise UserError(f"unknown model {location!r}: use a registry name or alias ({known}), "
                    "a Hugging Face name or directory, or the path of a local checkpoint")


def layers_in_name(name: str) -> int | None:
    """The layer count a file name states as ``_t<N>_`` (fair-esm's naming: ``esm2_t6_8M_UR50D``), else None."""
    match = LAYERS_IN_NAME.search(name)
    return int(match.group(1)) if match else None


def local_model_default(location: str) -> tuple[str, int | None]:
    """A local model's directory name (a directory's name, a file's stem) and its ``_t<N>_`` layer count."""
    path = Path(location).expanduser()
    directory = path.name if path.is_dir() else path.stem
    return directory, layers_in_name(directory)


def describe_local(location: str) -> tuple[str, int | None]:
    """Directory name and last layer (None when unknown) of a model outside the registry.

    The family that claims ``location`` names it (:attr:`Family.local_model`); UserError when no
    family claims it.
    """
    backend, _ = resolve_backend(location)
    describe = family(backend).local_model or local_model_default
    return describe(location)


def random_model_info(name: str) -> tuple[str, str, float] | None:
    """Family, size and parameter count of a randomly initialised test model named ``name``, else None."""
    for candidate in families():
        info = candidate.random_model(name) if candidate.random_model is not None else None
        if info is not None:
            return info
    return None


def random_model_writer() -> tuple[RandomModelWriter, Callable[..., Path]]:
    """The test-model writer a family offers, and its ``write_test_model`` (imported when called)."""
    candidate = next(candidate for candidate in families() if candidate.test_models is not None)
    writer = candidate.test_models

    def write(*args, **kwargs) -> Path:
        return importlib.import_module(f"{__name__}.{candidate.name}.{writer.module}").write_test_model(*args, **kwargs)
    return writer, write


def load_featuriser(location: str, options: LoadOptions) -> Featuriser:
    """Load the model at ``location`` with the featuriser of the family the registry names for it."""
    backend, spec = resolve_backend(location)
    return family(backend).module("featuriser").load(location, spec, options)


def encoder_loaders() -> dict[str, Callable[[str], nn.Module]]:
    """``{backend: load_encoder}`` for every family with a trainable encoder."""
    return {candidate.name: _loader(candidate, "encoder", "load_encoder")
            for candidate in families() if candidate.encoder}


def language_model_backends() -> tuple[str, ...]:
    """The backends whose models have a language-model head for zero-shot scoring."""
    return tuple(candidate.name for candidate in families() if candidate.language_model)


def _loader(candidate: Family, part: str, function: str) -> Callable:
    """``candidate``'s ``function`` from its ``part`` module, imported on the first call."""
    def load(*args, **kwargs):
        return getattr(candidate.module(part), function)(*args, **kwargs)
    load.__doc__ = f"{candidate.name}: {part}.{function} (imported when called)."
    return load
