"""The study configuration (``config/study.yaml``) and what it plans: models, layers, methods, paths.

The configuration is the one home of the study's data sets, model list and method lists; the
model registry (:mod:`plmtransfer.registry`) describes each model (names, last layer). This
module joins the two for the workflow (``workflow/Snakefile``), the bash drivers and the
``plmtransfer`` command: which layer and methods a model gets on a data set, and the file
contracts of docs/contracts.md (built by :mod:`plmtransfer.layout`) for a model plan, as paths
relative to a run's root.

A model's methods come, first match wins, from: the run's ``methods`` (for every model), the
model entry's own ``NAME:LAYER:METHODS``, the model's ``model_defaults`` (per set or for all
sets), ``default_methods``. Methods in the model's ``unsupported`` list are always dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from plmtransfer import layout, registry
from plmtransfer.config import (
    datasets,
    method_list,
    model_defaults,
    split_list,
    split_models,
)
from plmtransfer.errors import UserError

SETS = layout.SETS
PER_TOKEN_MODE = "per_tok"
POOL_MODE = "pool"


@dataclass(frozen=True)
class ModelPlan:
    """One model of a run on one data-set family: what the stages get and where its files go.

    ``argument`` is the model as extract.py gets it (a name or a .pt path), ``directory`` the
    name of its directories under embeddings/ and results/ (the registry alias or the .pt stem).
    """

    entry: str
    argument: str
    directory: str
    layer: int
    methods: tuple[str, ...]
    has_bos: bool
    too_wide: tuple[str, ...] = ()

    @property
    def rule_suffix(self) -> str:
        """A rule-name-safe label: ``<directory>_L<layer>``."""
        return re.sub(r"\W", "_", f"{self.directory}_L{self.layer}")


def local_model(name: str, entry: str) -> tuple[str, int | None]:
    """Directory name and last layer of a model outside the registry, as its backend family names it.

    The family that reads ``name`` says both (:func:`plmtransfer.backends.describe_local`); the
    last layer is None when nothing says it (the entry must give it).
    """
    from plmtransfer.backends import describe_local

    try:
        return describe_local(name)
    except UserError:
        raise UserError(f"unknown model '{entry}' (use an alias such as esm2_150M, a Hugging Face name "
                        "or directory, a .pt or ESM C .pth path, or onehot)") from None


def plan_model(entry: str, config: dict, set_name: str) -> ModelPlan:
    """Resolve one ``NAME[:LAYER[:METHOD,...]]`` entry for a data-set family; UserError if unknown."""
    name, _, rest = entry.partition(":")
    layer_text, _, methods_text = rest.partition(":")
    spec = registry.find_spec(name)
    defaults = model_defaults(config, name)
    if spec is not None:
        directory, last = spec.alias, spec.last_layer
    else:
        directory, last = local_model(name, entry)
    layer = layer_text or defaults.get("layer", last)
    if layer is None or not re.fullmatch(r"\d+", str(layer)):
        raise UserError(f"unknown layer of '{entry}' (give NAME:LAYER: its name has no _t<N>_ and "
                        "no config.json says how many layers it has)")
    methods = (split_list(config.get("methods")) or split_list(methods_text)
               or method_list(defaults.get("methods"), config, set_name)
               or split_list(config.get("default_methods")))
    unsupported = set(split_list(defaults.get("unsupported")))
    too_wide = set(methods_too_wide(methods, spec, int(layer)))
    kept = tuple(dict.fromkeys(method for method in methods if method not in unsupported | too_wide))
    if not kept:
        raise UserError(f"no methods left for '{entry}' on {set_name} (it cannot give "
                        f"{sorted(unsupported | too_wide)})")
    return ModelPlan(entry, name, directory, int(layer), kept, "bos" not in unsupported,
                     tuple(sorted(too_wide)))


def methods_too_wide(methods: list[str], spec: registry.ModelSpec | None, layer: int) -> list[str]:
    """The methods that need a wider representation than the model's layer (``min_dim``).

    The study ran each inverse-DCT shape only where the dimension allows; a sweep drops the
    others for that model instead of failing its extraction. Layer 0 and models outside the registry are
    not checked here (extract.py names the problem if there is one).
    """
    if spec is None or layer == 0:
        return []
    from plmtransfer.embed.methods import METHODS  # numpy: only when planning

    return [method for method in methods if method in METHODS and METHODS[method].min_dim > spec.embed_dim]


def plan_models(config: dict, set_name: str) -> list[ModelPlan]:
    """Every model of the run on one family, in the configured order (duplicates dropped)."""
    plans = [plan_model(entry, config, set_name) for entry in split_models(config.get("models"))]
    unique = {(plan.directory, plan.layer): plan for plan in reversed(plans)}
    return [plan for plan in plans if unique[(plan.directory, plan.layer)] is plan]


def unit(config: dict, set_name: str, dataset: str) -> str:
    """The embedding unit of a data set: the assay itself, or the family's shared chain set."""
    return config["sets"][set_name].get("unit") or dataset


def units(config: dict, set_name: str) -> list[str]:
    """The distinct embedding units of a family's data sets."""
    return list(dict.fromkeys(unit(config, set_name, dataset) for dataset in datasets(config, set_name)))


def cv_schemes(config: dict, set_name: str) -> list[str]:
    """The outer CV schemes of a family: its own ``cv`` (FLIP: predefined), else the run's, else the study's.

    Each scheme but the study's writes its own folders (``results/lassoCV_<scheme>/``), so a
    family whose splits are its files' own keeps its results apart from the random CV's.
    """
    return (split_list(config["sets"][set_name].get("cv")) or split_list(config.get("cv"))
            or [layout.STUDY_CV])


def fasta_path(set_name: str, unit_name: str) -> str:
    """The FASTA of an embedding unit (relative to the run's root)."""
    return str(layout.fasta_path(set_name, unit_name))


def metadata_path(set_name: str, dataset: str) -> str:
    """The ID,target CSV of a data set (relative to the run's root)."""
    return str(layout.metadata_path(set_name, dataset))


def metadata_dir(set_name: str) -> str:
    """The directory of a family's metadata CSVs."""
    return str(layout.metadata_dir(set_name))


def per_token_dir(set_name: str, plan: ModelPlan, unit_name: str) -> str:
    """The per-sequence .pt directory of a model and unit."""
    return str(layout.per_token_dir(set_name, plan.directory, unit_name))


def compressed_path(set_name: str, plan: ModelPlan, unit_name: str, method: str) -> str:
    """The compressed embeddings of a model, unit and method."""
    return str(layout.compressed_path(set_name, plan.directory, unit_name, plan.layer, method))


def results_name(stage: str, cv: str) -> str:
    """The results directory of a regression stage: ``lassoCV`` for the study's random CV, else suffixed."""
    return layout.results_name(stage, cv)


def result_path(stage: str, cv: str, set_name: str, plan: ModelPlan, dataset: str, method: str) -> str:
    """The per-fold result CSV of a regression stage, model, data set and method."""
    return str(layout.result_path(stage, cv, set_name, plan.directory, dataset, method))


def present_datasets(root: Path, set_name: str) -> list[str]:
    """Every data set whose metadata CSV is under ``root``'s data/ (``--datasets all``)."""
    return layout.present_datasets(set_name, root / layout.DATA_DIR)


def is_prepared(root: Path, config: dict, set_name: str, dataset: str) -> bool:
    """Whether a data set's metadata CSV and its unit's FASTA exist under ``root``."""
    return ((root / metadata_path(set_name, dataset)).is_file()
            and (root / fasta_path(set_name, unit(config, set_name, dataset))).is_file())


def methods_line(plans: list[ModelPlan]) -> str:
    """``model (layer L): m1, m2; ...``: which methods each model gets (the drivers' summary)."""
    return "; ".join(f"{plan.directory} (layer {plan.layer}): {', '.join(plan.methods)}"
                     + (f" (not {', '.join(plan.too_wide)}: a layer of {plan.directory} is too narrow)"
                        if plan.too_wide else "") for plan in plans)
