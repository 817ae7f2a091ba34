"""Model backends: one module per model family behind the featuriser interface (:mod:`.base`).

:func:`load_featuriser` is the only door: it resolves a model location with the registry
(:func:`resolve_backend`) and calls that backend module's ``load(location, spec, options)``.
Backend modules are imported only when used, so a missing optional dependency of one family
never breaks another.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

from plmtransfer.backends.base import Featuriser, LoadOptions
from plmtransfer.errors import UserError
from plmtransfer.registry import MODELS, ModelSpec, find_spec

BACKEND_MODULES = {
    "esm": "plmtransfer.backends.esm",
    "hf": "plmtransfer.backends.hf",
    "esmc": "plmtransfer.backends.esmc",
    "onehot": "plmtransfer.backends.onehot",
    "unirep": "plmtransfer.backends.unirep",
}
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
ESMC_WEIGHTS_DIR = Path("data") / "weights"


def resolve_backend(location: str) -> tuple[str, ModelSpec | None]:
    """The backend that serves ``location`` and its registry entry (None for a local location).

    Registry names and aliases map to their entry's backend, and the entry's Hugging Face
    name to ``hf_backend``. Local locations: a directory with ``config.json`` is the Hugging
    Face layout; a ``.pth`` file or a directory with ``data/weights/`` holds EvolutionaryScale's
    official ESM C weights; a ``.pt`` file or another path is a fair-esm checkpoint. Any other
    ``owner/name`` is a Hugging Face hub repository. Anything else is one error listing what
    is accepted.
    """
    spec = find_spec(location)
    if spec is not None:
        return (spec.hf_backend if location == spec.hf_name else spec.backend), spec
    path = Path(location).expanduser()
    if (path / "config.json").is_file():
        return "hf", None
    if path.suffix == ".pth" or (path / ESMC_WEIGHTS_DIR).is_dir():
        return "esmc", None
    if HUB_NAME.fullmatch(location) and path.suffix != ".pt" and not path.exists():
        return "hf", None
    if location.endswith(".pt") or os.sep in location or path.exists():
        return "esm", None
    known = ", ".join(spec.alias for spec in MODELS)
    raise UserError(f"unknown model {location!r}: use a registry name or alias ({known}), "
                    "a Hugging Face name or directory, or the path of a local checkpoint")


def load_featuriser(location: str, options: LoadOptions) -> Featuriser:
    """Load the model at ``location`` with the backend the registry names for it."""
    backend, spec = resolve_backend(location)
    if backend not in BACKEND_MODULES:
        raise UserError(f"model {location!r} needs the {backend!r} backend, which this version "
                        "of plmtransfer does not have")
    module = importlib.import_module(BACKEND_MODULES[backend])
    return module.load(location, spec, options)
