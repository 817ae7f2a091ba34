"""Model backends: one module per model family behind the featuriser interface (:mod:`.base`).

:func:`load_featuriser` is the only door: it resolves a model location with the registry
(:func:`resolve_backend`) and calls that backend module's ``load(location, spec, options)``.
Backend modules are imported only when used, so a missing optional dependency of one family
never breaks another.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from plmtransfer.backends.base import Featuriser, LoadOptions
from plmtransfer.errors import UserError
from plmtransfer.registry import MODELS, ModelSpec, find_spec

BACKEND_MODULES = {
    "esm": "plmtransfer.backends.esm",
    "onehot": "plmtransfer.backends.onehot",
    "unirep": "plmtransfer.backends.unirep",
}


def resolve_backend(location: str) -> tuple[str, ModelSpec | None]:
    """The backend that serves ``location`` and its registry entry (None for a local file).

    Registry names and aliases map to their entry's backend; a path to a ``.pt`` file is a
    fair-esm checkpoint. Anything else is one error listing what is accepted.
    """
    spec = find_spec(location)
    if spec is not None:
        return spec.backend, spec
    if location.endswith(".pt") or os.sep in location or Path(location).exists():
        return "esm", None
    known = ", ".join(spec.alias for spec in MODELS)
    raise UserError(f"unknown model {location!r}: use a registry name or alias ({known}) "
                    "or the path of a local checkpoint")


def load_featuriser(location: str, options: LoadOptions) -> Featuriser:
    """Load the model at ``location`` with the backend the registry names for it."""
    backend, spec = resolve_backend(location)
    if backend not in BACKEND_MODULES:
        raise UserError(f"model {location!r} needs the {backend!r} backend, which this version "
                        "of plmtransfer does not have")
    module = importlib.import_module(BACKEND_MODULES[backend])
    return module.load(location, spec, options)
