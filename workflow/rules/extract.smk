# Extraction: one job per data-set family x model x embedding unit. Pooled mode writes the
# compressed files of all the model's methods and layers in one pass (extract.py --pool
# --repr_layers <every layer of its sweep>); per-token mode writes fair-esm per-sequence .pt files
# of every layer, then one compress.py job per model x unit x layer.
# The engine decides what is up to date: the stage commands get --overwrite.


def extract_resources(set_name, gpu):
    """An extraction job's resources: memory and runtime from the model's size; a GPU and the GPU
    partition unless the model has no weights (onehot); a local .pt counts as 1000M parameters."""

    def millions(wildcards):
        spec = registry.find_spec(plan_of(set_name, wildcards).argument)
        return spec.parameters / 1e6 if spec else 1000

    resources = {"gpu": int(gpu), "mem_mb": lambda wildcards: int(8000 + 8 * millions(wildcards)),
                 "runtime": lambda wildcards: int(60 + millions(wildcards) / 10)}
    if gpu and config.get("gpu_partition"):
        resources["slurm_partition"] = config["gpu_partition"]
    return resources


def compressed_outputs(set_name, plans, layers):
    """The compressed files of a job shape: one per layer and method, {model} and the unit as wildcards."""
    pattern = pattern_plan(plans)
    return [study.compressed_path(set_name, pattern, unit_pattern(set_name), method, layer) for layer in layers
            for method in pattern.methods]


def extraction_targets(set_name):
    """What extraction gives on a family: the compressed files (pool) or per-token directories (per_tok)."""
    if MODE == study.PER_TOKEN_MODE:
        return [study.per_token_dir(set_name, plan, name) for plan in PLANS[set_name]
                for name in study.units(config, set_name)]
    return compression_targets(set_name)


def compression_targets(set_name):
    """Every compressed file of a family: each model's methods for each embedding unit."""
    return [study.compressed_path(set_name, plan, name, method) for plan in LAYER_PLANS[set_name]
            for name in study.units(config, set_name) for method in plan.methods]


for set_name in RUN_SETS:
    unit = unit_pattern(set_name)
    if MODE == study.POOL_MODE:
        for (methods, layers, gpu), plans in shapes(PLANS[set_name], lambda plan: (plan.layers, needs_gpu(plan))).items():

            rule:
                name:
                    f"extract_{set_name}_L{'_'.join(map(str, layers))}_{methods_label(methods)}"
                input:
                    fasta=study.fasta_path(set_name, unit),
                output:
                    compressed_outputs(set_name, plans, layers),
                log:
                    str(layout.log_path(EXTRACT_STEP, "{model}", unit)),
                wildcard_constraints:
                    model=alternatives(plan.directory for plan in plans),
                params:
                    **COMMON,
                    model=lambda wildcards, set_name=set_name: plan_of(set_name, wildcards).argument,
                    layers=" ".join(map(str, layers)),
                    methods=" ".join(methods),
                    out_dir=lambda wildcards, output: str(Path(output[0]).parent),
                resources:
                    **extract_resources(set_name, gpu),
                shell:
                    "{params.python} -m plmtransfer.cli.extract {params.model} {input.fasta} {params.out_dir} "
                    "--repr_layers {params.layers} --pool {params.methods} --overwrite {params.stage_args} "
                    "> {log} 2>&1"

    else:
        for gpu in dict.fromkeys(needs_gpu(plan) for plan in PLANS[set_name]):
            plans = [plan for plan in PLANS[set_name] if needs_gpu(plan) == gpu]

            rule:
                name:
                    f"extract_per_tok_{set_name}{'' if gpu else '_nogpu'}"
                input:
                    fasta=study.fasta_path(set_name, unit),
                output:
                    directory(study.per_token_dir(set_name, pattern_plan(plans), unit)),
                log:
                    str(layout.log_path(EXTRACT_STEP, "{model}", unit)),
                wildcard_constraints:
                    model=alternatives(plan.directory for plan in plans),
                params:
                    **COMMON,
                    model=lambda wildcards, set_name=set_name: plan_of(set_name, wildcards).argument,
                    layers=lambda wildcards, set_name=set_name: " ".join(map(str, plan_of(set_name, wildcards).layers)),
                    include=lambda wildcards, set_name=set_name: (
                        "bos per_tok" if plan_of(set_name, wildcards).has_bos else "per_tok"),
                resources:
                    **extract_resources(set_name, gpu),
                shell:
                    "{params.python} -m plmtransfer.cli.extract {params.model} {input.fasta} {output} "
                    "--repr_layers {params.layers} --include {params.include} {params.stage_args} > {log} 2>&1"

        for (methods, layer, swept), plans in shapes(LAYER_PLANS[set_name]).items():

            rule:
                name:
                    f"compress_{set_name}_{shape_label(layer, swept, methods)}"
                input:
                    study.per_token_dir(set_name, pattern_plan(plans), unit),
                output:
                    compressed_outputs(set_name, plans, [layer]),
                log:
                    str(layout.log_path(COMPRESS_STEP, "{model}", unit, layer=layer if swept else None)),
                wildcard_constraints:
                    model=alternatives(plan.directory for plan in plans),
                params:
                    **COMMON,
                    layer=layer,
                    methods=" ".join(methods),
                    out_dir=lambda wildcards, output: str(Path(output[0]).parent),
                shell:
                    "{params.python} -m plmtransfer.cli.compress -e {input} -o {params.out_dir} -c {params.methods} "
                    "-l {params.layer} --overwrite {params.stage_args} > {log} 2>&1"
