# Extraction: one job per data-set family x model x embedding unit. Pooled mode writes the
# compressed files of all the model's methods in one pass (extract.py --pool); per-token mode
# writes fair-esm per-sequence .pt files, then one compress.py job per model x unit.
# The engine decides what is up to date: the stage commands get --overwrite.


def extract_resources(plan):
    """An extraction job's resources: memory and runtime from the model's size; a GPU and the GPU
    partition unless the model has no weights (onehot); a local .pt counts as 1000M parameters."""
    spec = registry.find_spec(plan.argument)
    millions = spec.parameters / 1e6 if spec else 1000
    resources = {"gpu": int(millions > 0), "mem_mb": int(8000 + 8 * millions), "runtime": int(60 + millions / 10)}
    if millions > 0 and config.get("gpu_partition"):
        resources["slurm_partition"] = config["gpu_partition"]
    return resources


def unit_wildcard(set_name):
    """The wildcard of a family's embedding unit: the DMS assay, or the fixed PISCES chain set."""
    return "{dms_dataset}" if set_name == "DMS" else config["sets"][set_name]["unit"]


for set_name in RUN_SETS:
    units = study.units(config, set_name)
    unit = unit_wildcard(set_name)
    for plan in PLANS[set_name]:
        compressed = [study.compressed_path(set_name, plan, unit, method) for method in plan.methods]
        TARGETS.setdefault(("compression", set_name), []).extend(
            study.compressed_path(set_name, plan, name, method) for name in units for method in plan.methods)
        if MODE == study.POOL_MODE:
            TARGETS.setdefault(("extraction", set_name), []).extend(
                study.compressed_path(set_name, plan, name, method) for name in units for method in plan.methods)

            rule:
                name:
                    f"extract_{set_name}_{plan.rule_suffix}"
                input:
                    fasta=study.fasta_path(set_name, unit),
                output:
                    compressed,
                log:
                    f"logs/extraction/{plan.directory}/{unit}.log",
                params:
                    **COMMON,
                    model=plan.argument,
                    layer=plan.layer,
                    methods=" ".join(plan.methods),
                    out_dir=lambda wildcards, output: str(Path(output[0]).parent),
                resources:
                    **extract_resources(plan),
                shell:
                    "{params.python} {params.scripts}/extract.py {params.model} {input.fasta} {params.out_dir} "
                    "--repr_layers {params.layer} --pool {params.methods} --overwrite {params.stage_args} "
                    "> {log} 2>&1"

        else:
            per_token = study.per_token_dir(set_name, plan, unit)
            TARGETS.setdefault(("extraction", set_name), []).extend(
                study.per_token_dir(set_name, plan, name) for name in units)

            rule:
                name:
                    f"extract_per_tok_{set_name}_{plan.rule_suffix}"
                input:
                    fasta=study.fasta_path(set_name, unit),
                output:
                    directory(per_token),
                log:
                    f"logs/extraction/{plan.directory}/{unit}.log",
                params:
                    **COMMON,
                    model=plan.argument,
                    layer=plan.layer,
                    include="bos per_tok" if plan.has_bos else "per_tok",
                resources:
                    **extract_resources(plan),
                shell:
                    "{params.python} {params.scripts}/extract.py {params.model} {input.fasta} {output} "
                    "--repr_layers {params.layer} --include {params.include} {params.stage_args} > {log} 2>&1"

            rule:
                name:
                    f"compress_{set_name}_{plan.rule_suffix}"
                input:
                    per_token,
                output:
                    compressed,
                log:
                    f"logs/compression/{plan.directory}/{unit}.log",
                params:
                    **COMMON,
                    layer=plan.layer,
                    methods=" ".join(plan.methods),
                    out_dir=lambda wildcards, output: str(Path(output[0]).parent),
                shell:
                    "{params.python} {params.scripts}/compress.py -e {input} -o {params.out_dir} -c {params.methods} "
                    "-l {params.layer} --overwrite {params.stage_args} > {log} 2>&1"
