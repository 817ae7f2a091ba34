"""Validation of a study configuration and of the drivers' flags: one line per mistake, before anything runs.

Two layers. The JSON schema ``workflow/schemas/study.schema.yaml`` states every key of
``config/study.yaml`` and its type (an unknown key such as ``modles:`` is an error, not a silently
ignored line); Snakemake's ``validate`` applies it in the Snakefile, and :func:`check_file` applies
the same schema from Python before Snakemake starts, so the drivers submit nothing for a bad file.
:func:`check_plan` then checks the names the schema cannot know: models (the registry, or a
location a backend claims), compression methods (:data:`plmtransfer.embed.methods.METHODS` and
the config's ``method_lists``) and data sets. Each error is a :class:`UserError` naming the key and
the file (or the flag), with a "did you mean" for a near miss.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from plmtransfer import layout, registry
from plmtransfer.errors import UserError, did_you_mean
from plmtransfer.options import CV_SCHEMES, INNER_CV_SCHEMES, LAYER_WORDS, SOLVERS
from plmtransfer.stages import STEP_NAMES

# The folder of each data-set family under the data mirror (the data root: <mirror>/dms, <mirror>/pisces,
# <mirror>/flip_gb1); its keys are the families the workflow knows (FLIP: plmtransfer.data.flip.SET)
MIRROR_FOLDERS = {layout.DMS: "dms", layout.PISCES: "pisces", "FLIP": "flip_gb1"}


def schema_path() -> Path:
    """The study configuration's JSON schema (YAML), beside the Snakefile."""
    from plmtransfer.config import resource_dir

    return resource_dir("workflow") / "schemas" / "study.schema.yaml"


def near_miss(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss among the known names (:func:`plmtransfer.errors.did_you_mean`)."""
    hint = did_you_mean(name, known)
    return f" ({hint})" if hint else ""


def key_path(path: Iterable) -> str:
    """A key path as the YAML reads it: ``sets.DMS.datasets[3]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def schema_message(error, schema: dict) -> str:
    """One line for the first schema violation: the key, what is wrong, a near-miss suggestion."""
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list((error.schema.get("properties") or {}).keys())
        extra = [key for key in error.instance if key not in allowed]
        prefix = f"{where}." if where else ""
        return f"unknown key '{prefix}{extra[0]}'{near_miss(str(extra[0]), allowed)}"
    if error.validator == "oneOf" and error.schema.get("description"):
        return f"{where}: {error.instance!r} is not {error.schema['description']}"
    return f"{where or 'the file'}: {error.message}"


def check_config(config: dict, source: str) -> None:
    """Check a configuration (one file's, or the merged one) against the schema; UserError naming ``source``."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(schema_path().read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config or {}), key=lambda error: list(error.absolute_path))
    if errors:
        raise UserError(f"{source}: {schema_message(errors[0], schema)}")


def check_file(path: str | Path) -> dict:
    """Read a YAML configuration file and check it against the schema; return it."""
    import yaml

    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise UserError(f"cannot read the configuration {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise UserError(f"{path}: a configuration is a mapping of keys (models:, sets:, ...)")
    check_config(config, str(path))
    return config


def registry_names() -> list[str]:
    """Every model name and alias of the registry (the did-you-mean candidates)."""
    return [name for spec in registry.registered_models() for name in spec.names]


def check_model(entry: str, where: str) -> None:
    """A model entry's name is a registry name or a location a backend claims; UserError otherwise."""
    name = entry.partition(":")[0]
    if registry.find_spec(name) is not None:
        return
    from plmtransfer.backends import resolve_backend  # torch: only for names outside the registry

    try:
        resolve_backend(name)
    except UserError:
        raise UserError(f"{where}: unknown model '{name}'{near_miss(name, registry_names())} (use a registry "
                        "name or alias such as esm2_150M, onehot, a Hugging Face name or directory, or a "
                        "checkpoint path)") from None


def known_methods(config: dict) -> list[str]:
    """The compression methods a configuration may name: the registry's and the config's method lists."""
    from plmtransfer.embed.methods import METHODS  # numpy: only when checking

    return [*METHODS, *(config.get("method_lists") or {})]


def check_methods(methods: Iterable[str], config: dict, where: str) -> None:
    """Every method is a compression method or a method list name; UserError for the first that is not."""
    known = known_methods(config)
    for method in methods:
        if method not in known:
            raise UserError(f"{where}: unknown method '{method}'{near_miss(method, known)}")


def method_values(value) -> list[str]:
    """The method names in a methods value: a list, a name, or one value per set (``{DMS: [flat]}``)."""
    from plmtransfer.workflow.study import split_list

    if isinstance(value, dict):
        return [name for item in value.values() for name in split_list(item)]
    return split_list(value)


def check_plan(config: dict, source: str) -> None:
    """The names the schema cannot check: models, methods, run sets; UserError naming the key and ``source``."""
    from plmtransfer.workflow import study
    from plmtransfer.workflow.study import split_list, split_models

    for entry in split_models(config.get("models")):
        check_model(entry, f"{source}: models")
        check_methods(split_list(entry.partition(":")[2].partition(":")[2]), config, f"{source}: models")
    check_methods(method_values(config.get("methods")), config, f"{source}: methods")
    check_methods(method_values(config.get("default_methods")), config, f"{source}: default_methods")
    for model, defaults in (config.get("model_defaults") or {}).items():
        where = f"{source}: model_defaults.{model}"
        check_methods(method_values((defaults or {}).get("methods")), config, f"{where}.methods")
        check_methods(split_list((defaults or {}).get("unsupported")), config, f"{where}.unsupported")
    for key, known in (("run_sets", list(config.get("sets") or {})), ("cv", CV_SCHEMES), ("stages", STEP_NAMES),
                       ("extract_mode", (study.POOL_MODE, study.PER_TOKEN_MODE)), ("protocols", INNER_CV_SCHEMES),
                       ("solver", SOLVERS)):
        check_names(split_list(config.get(key)), known, f"{source}: {key}")
    check_layers(config.get("layers"), f"{source}: layers")
    for set_name, entry in (config.get("sets") or {}).items():
        check_names(split_list((entry or {}).get("cv")), CV_SCHEMES, f"{source}: sets.{set_name}.cv")
        check_layers((entry or {}).get("layers"), f"{source}: sets.{set_name}.layers")
    for model, defaults in (config.get("model_defaults") or {}).items():
        check_layers((defaults or {}).get("layers"), f"{source}: model_defaults.{model}.layers")


def check_layers(value, where: str) -> None:
    """A ``layers`` value is ``last``, ``all`` or layer numbers (a list, or a string of them); UserError otherwise.

    Whether each number is one of the model's layers is checked when the model is planned.
    """
    from plmtransfer.workflow.study import split_list

    words = split_list(value)
    if len(words) == 1 and not words[0].isdigit():
        check_names(words, LAYER_WORDS, where)
    for word in words if len(words) > 1 else ():
        if not word.isdigit():
            raise UserError(f"{where}: '{word}' is not a layer number (use {' or '.join(LAYER_WORDS)} alone, "
                            "or layer numbers)")


def check_names(names: Iterable[str], known: Iterable[str], where: str) -> None:
    """Every name is one of ``known``; UserError naming the first that is not, with the choices."""
    known = list(known)
    for name in names:
        if name not in known:
            raise UserError(f"{where}: unknown value '{name}'{near_miss(name, known)} (use {', '.join(known)})")


def check_datasets(requested: list[str], known: Iterable[str], where: str) -> None:
    """Every requested data set is known; UserError naming the first that is not, with a near miss."""
    known = list(dict.fromkeys(known))
    for name in requested:
        if name not in known:
            raise UserError(f"{where}: unknown data set '{name}'{near_miss(name, known)} (not in the "
                            "configuration's list, the root's data/ or the mirror)")
