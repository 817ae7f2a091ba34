"""The study configuration (``config/study.yaml``): reading it and its shared vocabulary.

The ground floor's view of the one home of the study's data sets, model list and method lists:
data preparation (the study's assay list), analysis (the baseline's method) and the workflow
(:mod:`plmtransfer.workflow.study`, which plans runs from it) read the configuration through these
functions. Imports nothing heavy (PyYAML only when a file is read).
"""

from __future__ import annotations

import re
from pathlib import Path

from plmtransfer import registry
from plmtransfer.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """``workflow`` or ``config``: beside the package in a checkout, under ``plmtransfer/resources`` installed."""
    for candidate in (PACKAGE_DIR / "resources" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise UserError(f"cannot find the {name}/ directory of plmtransfer next to or inside {PACKAGE_DIR}")


def study_config_path() -> Path:
    """The study configuration file shipped with the project."""
    return resource_dir("config") / "study.yaml"


def load_config(path: str | Path | None = None) -> dict:
    """The study configuration as a dict (``path`` defaults to the shipped ``config/study.yaml``)."""
    import yaml

    path = Path(path) if path else study_config_path()
    with open(path) as handle:
        return yaml.safe_load(handle)


def split_list(value) -> list[str]:
    """A list from a YAML list or a comma/space separated string (the drivers' flag syntax)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return [str(item) for item in value]


def split_models(value) -> list[str]:
    """Model entries from a YAML list or a whitespace-separated string (commas separate an entry's methods)."""
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value or []]


def method_list(value, config: dict, set_name: str | None = None) -> list[str]:
    """Expand a methods value: a list, a ``method_lists`` name, or a ``{set: value}`` mapping (per ``set_name``).

    A list may name method lists among its methods (``[study, h_avg, fusion]``); the result
    keeps the first occurrence of each method, in order.
    """
    if isinstance(value, dict):
        value = value.get(set_name, value.get("default"))
    named = config.get("method_lists", {})
    methods = []
    for item in split_list(value):
        methods += split_list(named[item]) if item in named else [item]
    return list(dict.fromkeys(methods))


def model_defaults(config: dict, name: str) -> dict:
    """The ``model_defaults`` entry of a model under any of its registry names (empty if none)."""
    spec = registry.find_spec(name)
    names = spec.names if spec else (name,)
    defaults = config.get("model_defaults") or {}
    for candidate in names:
        if candidate in defaults:
            return defaults[candidate] or {}
    return {}


def datasets(config: dict, set_name: str) -> list[str]:
    """The data sets of a family (DMS assays or PISCES targets) in the configured order."""
    return split_list(config["sets"][set_name]["datasets"])
