# Regression: one job per family x model x CV scheme (the family's own `cv`, else the run's) x
# data set, covering all the model's methods in one process (reg_lassoCV.py -i A B ... -o A' B'
# ...): a process spends seconds importing before its first fit, so one-fit jobs would waste most
# of a sweep's time.
# Learning curves (reg_lassoCV_sampling.py) are grouped the same way, for families with
# learning_curves: true.


def regression_steps(set_name):
    """The regression steps of a family: lassoCV, and lassoCV_sampling where configured."""
    steps = [REGRESS_STEP]
    if config["sets"][set_name].get("learning_curves"):
        steps.append(LEARNING_CURVE_STEP)
    return steps


def regression_targets(step, set_name):
    """Every result file of a regression step on a family: model x CV scheme x data set x method."""
    if step not in regression_steps(set_name):
        return []
    return [study.result_path(step, cv, set_name, plan, dataset, method) for cv in CV_SCHEMES[set_name]
            for plan in PLANS[set_name] for dataset in study.datasets(config, set_name) for method in plan.methods]


def regression_inputs(set_name, plans):
    """Input function: the compressed files of the job's data set (its unit) and its metadata."""
    pattern = pattern_plan(plans)

    def inputs(wildcards):
        name = study.unit(config, set_name, wildcards.dataset)
        return {"embeddings": [study.compressed_path(set_name, replace(pattern, directory=wildcards.model), name,
                                                     method) for method in pattern.methods],
                "metadata": study.metadata_path(set_name, wildcards.dataset)}

    return inputs


for set_name in RUN_SETS:
    for step in regression_steps(set_name):
        for (layer, methods), plans in shapes(set_name).items():
            pattern = pattern_plan(plans)

            rule:
                name:
                    f"{step}_{set_name}_L{layer}_{methods_label(methods)}"
                input:
                    unpack(regression_inputs(set_name, plans)),
                output:
                    [cv_pattern(lambda cv, method=method: study.result_path(step, cv, set_name, pattern, "{dataset}",
                                                                            method)) for method in methods],
                log:
                    cv_pattern(lambda cv: layout.log_path(study.results_name(step, cv), "{model}", "{dataset}")),
                wildcard_constraints:
                    model=alternatives(plan.directory for plan in plans),
                    cv_suffix=cv_alternatives(CV_SCHEMES[set_name]),
                params:
                    **COMMON,
                    module=BY_STEP[step].python_module,
                    cv=lambda wildcards: "" if cv_of(wildcards) == layout.STUDY_CV else f"--cv {cv_of(wildcards)}",
                    sizes=f"--sizes {SIZES}" if step == LEARNING_CURVE_STEP and SIZES else "",
                resources:
                    runtime=30 + 30 * len(methods),  # minutes (Slurm): 30 per method + start
                shell:
                    "{params.python} -m {params.module} -i {input.embeddings} -m {input.metadata} "
                    "-o {output} --dataset {wildcards.dataset} --embedding-model {wildcards.model} {params.cv} "
                    "{params.sizes} {params.stage_args} > {log} 2>&1"
