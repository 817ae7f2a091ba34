# Regression: one job per family x model x layer x variant (outer CV scheme: the family's own
# `cv`, else the run's; protocol: the run's `protocols`) x data set, covering all the model's
# methods in one process (reg_lassoCV.py -i A B ... -o A' B' ...): a process spends seconds
# importing before its first fit, so one-fit jobs would waste most of a sweep's time.
# A swept layer (not the model's own) writes results/lassoCV<variant>_L<layer>/.
# Learning curves (reg_lassoCV_sampling.py) are grouped the same way, for families with
# learning_curves: true, at each model's own layer.


def regression_steps(set_name):
    """The regression steps of a family: lassoCV, and lassoCV_sampling where configured."""
    steps = [REGRESS_STEP]
    if config["sets"][set_name].get("learning_curves"):
        steps.append(LEARNING_CURVE_STEP)
    return steps


def step_plans(step, set_name):
    """The model plans of a regression step: every layer of the sweeps; learning curves the models' own layers."""
    return PLANS[set_name] if step == LEARNING_CURVE_STEP else LAYER_PLANS[set_name]


def regression_targets(step, set_name):
    """Every result file of a regression step on a family: variant x model x layer x data set x method."""
    if step not in regression_steps(set_name):
        return []
    return [study.result_path(step, cv, set_name, plan, dataset, method, protocol)
            for cv, protocol in VARIANTS[set_name].values() for plan in step_plans(step, set_name)
            for dataset in study.datasets(config, set_name) for method in plan.methods]


def regression_inputs(set_name, plans):
    """Input function: the compressed files of the job's data set (its unit) at the shape's layer, and its metadata."""
    pattern = pattern_plan(plans)

    def inputs(wildcards):
        name = study.unit(config, set_name, wildcards.dataset)
        return {"embeddings": [study.compressed_path(set_name, replace(pattern, directory=wildcards.model), name,
                                                     method) for method in pattern.methods],
                "metadata": study.metadata_path(set_name, wildcards.dataset)}

    return inputs


def variant_flags(set_name):
    """Params function: the stage flags of a job's variant (none for the study's CV and protocol) and the
    configured solver."""

    def flags(wildcards):
        cv, protocol = variant_of(set_name, wildcards)
        return " ".join([*([f"--cv {cv}"] if cv != layout.STUDY_CV else []),
                         *([f"--inner-cv {protocol}"] if protocol != layout.STUDY_PROTOCOL else []),
                         *([f"--solver {config['solver']}"] if config.get("solver") else [])])

    return flags


for set_name in RUN_SETS:
    for step in regression_steps(set_name):
        for (methods, layer, swept), plans in shapes(step_plans(step, set_name)).items():
            pattern = pattern_plan(plans)

            rule:
                name:
                    f"{step}_{set_name}_{shape_label(layer, swept, methods)}"
                input:
                    unpack(regression_inputs(set_name, plans)),
                output:
                    [variant_pattern(lambda cv, protocol, method=method: study.result_path(
                        step, cv, set_name, pattern, "{dataset}", method, protocol)) for method in methods],
                log:
                    variant_pattern(lambda cv, protocol: layout.log_path(
                        study.results_name(step, cv, protocol, pattern), "{model}", "{dataset}")),
                wildcard_constraints:
                    model=alternatives(plan.directory for plan in plans),
                    variant=variant_alternatives(VARIANTS[set_name]),
                params:
                    **COMMON,
                    module=BY_STEP[step].python_module,
                    variant=variant_flags(set_name),
                    sizes=f"--sizes {SIZES}" if step == LEARNING_CURVE_STEP and SIZES else "",
                resources:
                    runtime=30 + 30 * len(methods),  # minutes (Slurm): 30 per method + start
                shell:
                    "{params.python} -m {params.module} -i {input.embeddings} -m {input.metadata} "
                    "-o {output} --dataset {wildcards.dataset} --embedding-model {wildcards.model} {params.variant} "
                    "{params.sizes} {params.stage_args} > {log} 2>&1"
