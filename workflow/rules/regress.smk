# Regression: one job per family x model x CV scheme x data set, covering all the model's
# methods in one process (reg_lassoCV.py -i A B ... -o A' B' ...): a process spends seconds
# importing before its first fit, so one-fit jobs would waste most of a sweep's time.
# Learning curves (reg_lassoCV_sampling.py) are grouped the same way, for families with
# learning_curves: true.

REGRESSION_SCRIPTS = {"lassoCV": "reg_lassoCV.py", "lassoCV_sampling": "reg_lassoCV_sampling.py"}


def regression_stages(set_name):
    """The regression stages of a family: lassoCV, and lassoCV_sampling where configured."""
    stages = ["lassoCV"]
    if config["sets"][set_name].get("learning_curves"):
        stages.append("lassoCV_sampling")
    return stages


def regression_inputs(set_name, plan):
    """Input function: the compressed files of the job's data set (its unit) and its metadata."""

    def inputs(wildcards):
        dataset = wildcards.get(f"{set_name.lower()}_dataset")
        name = study.unit(config, set_name, dataset)
        return {"embeddings": [study.compressed_path(set_name, plan, name, method) for method in plan.methods],
                "metadata": study.metadata_path(set_name, dataset)}

    return inputs


for set_name in RUN_SETS:
    dataset = "{" + set_name.lower() + "_dataset}"
    for stage_name in regression_stages(set_name):
        for cv in CV_SCHEMES:
            for plan in PLANS[set_name]:
                results = [study.result_path(stage_name, cv, set_name, plan, name, method)
                           for name in study.datasets(config, set_name) for method in plan.methods]
                TARGETS.setdefault((stage_name, set_name), []).extend(results)
                RESULTS.setdefault((stage_name, set_name, cv), []).extend(results)

                rule:
                    name:
                        f"{stage_name}_{set_name}_{cv}_{plan.rule_suffix}"
                    input:
                        unpack(regression_inputs(set_name, plan)),
                    output:
                        [study.result_path(stage_name, cv, set_name, plan, dataset, method) for method in plan.methods],
                    log:
                        f"logs/{study.results_name(stage_name, cv)}/{plan.directory}/{dataset}.log",
                    params:
                        **COMMON,
                        script=REGRESSION_SCRIPTS[stage_name],
                        dataset=lambda wildcards, key=dataset[1:-1]: getattr(wildcards, key),
                        model=plan.directory,
                        cv="" if cv == "random" else f"--cv {cv}",
                        sizes=f"--sizes {SIZES}" if stage_name == "lassoCV_sampling" and SIZES else "",
                    resources:
                        runtime=30 + 30 * len(plan.methods),  # minutes (Slurm): 30 per method + start
                    shell:
                        "{params.python} {params.scripts}/{params.script} -i {input.embeddings} -m {input.metadata} "
                        "-o {output} --dataset {params.dataset} --embedding-model {params.model} {params.cv} "
                        "{params.sizes} {params.stage_args} > {log} 2>&1"
