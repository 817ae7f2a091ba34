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

A model's layers (a layer sweep) come, first match wins, from its ``model_defaults`` ``layers``,
the set's ``layers``, the run's ``layers``: ``last`` (the model's own layer alone, the study's),
``all`` (0..its last) or a list of layer numbers; the model's own layer is always among them
(the reference of a sweep, and the layer whose results the study's folders and statistics hold).
Extraction pools every layer in one pass; compression and regression run per layer
(:meth:`ModelPlan.layer_plans`), a swept layer's results under ``results/<step>..._L<layer>/``.
A run's protocols (``protocols``: reg_lassoCV.py's ``--inner-cv`` choices) write their own folders
(``results/lassoCV_<protocol>/``) beside the study's; see :func:`plmtransfer.layout.results_suffix`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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
from plmtransfer.options import ALL_LAYERS, LAYER_WORDS

SETS = layout.SETS
PER_TOKEN_MODE = "per_tok"
POOL_MODE = "pool"


@dataclass(frozen=True)
class ModelPlan:
    """One model of a run on one data-set family: what the stages get and where its files go.

    ``argument`` is the model as extract.py gets it (a name or a .pt path), ``directory`` the
    name of its directories under embeddings/ and results/ (the registry alias or the .pt stem).
    ``layer`` is the layer of the plan's files: the model's own (the study's) unless ``swept``;
    ``layers`` every layer the run extracts for the model (one pass), its own among them.
    """

    entry: str
    argument: str
    directory: str
    layer: int
    methods: tuple[str, ...]
    has_bos: bool
    too_wide: tuple[str, ...] = ()
    layers: tuple[int, ...] = ()
    swept: bool = False

    @property
    def results_layer(self) -> int | None:
        """The layer its results' folders name (:func:`plmtransfer.layout.results_suffix`): None for its own."""
        return self.layer if self.swept else None

    def layer_plans(self) -> list[ModelPlan]:
        """One plan per layer of the run: this one (its own layer), then each swept layer in order."""
        return [self, *(replace(self, layer=layer, swept=True) for layer in self.layers if layer != self.layer)]


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
    layers = plan_layers(layers_value(config, set_name, name), int(layer), last, entry)
    return ModelPlan(entry, name, directory, int(layer), kept, "bos" not in unsupported,
                     tuple(sorted(too_wide)), layers)


def layers_value(config: dict, set_name: str, name: str):
    """A model's ``layers`` value on a family: its ``model_defaults``', else the set's, else the run's, else last."""
    for value in (model_defaults(config, name).get("layers"), (config["sets"].get(set_name) or {}).get("layers"),
                  config.get("layers")):
        if value not in (None, "", []):
            return value
    return LAYER_WORDS[0]


def plan_layers(value, own: int, last: int | None, entry: str) -> tuple[int, ...]:
    """The layers of a model, sorted, ``own`` among them, from a ``layers`` value.

    ``last``: the model's own layer; ``all``: 0 (the token embedding) to the model's last layer; a
    list (or a comma/space separated string) of layer numbers, those beyond the model's last left
    out (so that one list serves models of different depths; the drivers' summary names each
    model's layers).
    """
    words = split_list(value)
    if words == [LAYER_WORDS[0]]:
        return (own,)
    if words == [ALL_LAYERS]:
        if last is None:
            raise UserError(f"layers all of '{entry}': its number of layers is unknown (list the layers)")
        return tuple(sorted({*range(last + 1), own}))
    bad = [word for word in words if not re.fullmatch(r"\d+", word)]
    if bad:
        raise UserError(f"layers of '{entry}': '{bad[0]}' is not a layer number, {' or '.join(LAYER_WORDS)}")
    return tuple(sorted({*(int(word) for word in words if last is None or int(word) <= last), own}))


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


def protocols(config: dict) -> list[str]:
    """The run's protocols (reg_lassoCV.py ``--inner-cv``): ``protocols``, else the study's alone."""
    return split_list(config.get("protocols")) or [layout.STUDY_PROTOCOL]


def variants(config: dict, set_name: str) -> list[tuple[str, str]]:
    """The (outer CV scheme, protocol) pairs of a family's regressions and statistics, each in its own folders."""
    return [(cv, protocol) for cv in cv_schemes(config, set_name) for protocol in protocols(config)]


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


def compressed_path(set_name: str, plan: ModelPlan, unit_name: str, method: str, layer: int | None = None) -> str:
    """The compressed embeddings of a model, unit and method at the plan's layer (or ``layer``)."""
    return str(layout.compressed_path(set_name, plan.directory, unit_name, plan.layer if layer is None else layer,
                                      method))


def results_name(stage: str, cv: str, protocol: str = layout.STUDY_PROTOCOL, plan: ModelPlan | None = None) -> str:
    """The results directory of a regression stage: ``lassoCV`` for the study's protocol and a model's own layer."""
    return layout.results_name(stage, cv, protocol, plan.results_layer if plan else None)


def result_path(stage: str, cv: str, set_name: str, plan: ModelPlan, dataset: str, method: str,
                protocol: str = layout.STUDY_PROTOCOL) -> str:
    """The per-fold result CSV of a regression stage, CV scheme, protocol, model (at its layer), data set and method."""
    return str(layout.result_path(stage, cv, set_name, plan.directory, dataset, method, protocol=protocol,
                                  layer=plan.results_layer))


def present_datasets(root: Path, set_name: str) -> list[str]:
    """Every data set whose metadata CSV is under ``root``'s data/ (``--datasets all``)."""
    return layout.present_datasets(set_name, root / layout.DATA_DIR)


def is_prepared(root: Path, config: dict, set_name: str, dataset: str) -> bool:
    """Whether a data set's metadata CSV and its unit's FASTA exist under ``root``."""
    return ((root / metadata_path(set_name, dataset)).is_file()
            and (root / fasta_path(set_name, unit(config, set_name, dataset))).is_file())


def methods_line(plans: list[ModelPlan]) -> str:
    """``model (layer L): m1, m2; ...``: which methods each model gets (the drivers' summary), and its swept layers."""
    return "; ".join(f"{plan.directory} (layer {plan.layer}"
                     + (f"; layers {' '.join(map(str, plan.layers))}" if len(plan.layers) > 1 else "")
                     + f"): {', '.join(plan.methods)}"
                     + (f" (not {', '.join(plan.too_wide)}: a layer of {plan.directory} is too narrow)"
                        if plan.too_wide else "") for plan in plans)
