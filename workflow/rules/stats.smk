# Statistics and figures: one scripts/stats.py report per family and CV scheme over the
# family's results; learning curves join when this run covers the lassoCV_sampling step
# (else those already on disk are used).


def stats_targets(set_name):
    """The report markers of a family, one per CV scheme."""
    return [str(layout.stats_dir(set_name, cv) / ".complete") for cv in CV_SCHEMES[set_name]]


def stats_inputs(set_name):
    """Input function: the family's regression results of the job's CV scheme (and learning curves)."""

    def inputs(wildcards):
        steps = [REGRESS_STEP] + [LEARNING_CURVE_STEP] * (LEARNING_CURVE_STEP in STAGES)
        results = [path for step in steps for path in regression_targets(step, set_name)]
        prefixes = [str(layout.results_dir(step, cv_of(wildcards), set_name)) + "/" for step in steps]
        return [path for path in results if path.startswith(tuple(prefixes))]

    return inputs


for set_name in RUN_SETS:

    rule:
        name:
            f"stats_report_{set_name}"
        input:
            stats_inputs(set_name),
        output:
            touch(cv_pattern(lambda cv: layout.stats_dir(set_name, cv) / ".complete")),
        log:
            cv_pattern(lambda cv: layout.stats_log_path(set_name, cv)),
        wildcard_constraints:
            cv_suffix=cv_alternatives(CV_SCHEMES[set_name]),
        params:
            **COMMON,
            results=lambda wildcards, set_name=set_name: str(layout.results_dir(REGRESS_STEP, cv_of(wildcards),
                                                                                 set_name)),
            sampling=lambda wildcards, set_name=set_name: str(layout.results_dir(LEARNING_CURVE_STEP, cv_of(wildcards),
                                                                                  set_name)),
            metadata=study.metadata_dir(set_name),
            out_dir=lambda wildcards, output: str(Path(output[0]).parent),
            figures=lambda wildcards, set_name=set_name: str(layout.figures_dir(set_name, cv_of(wildcards))),
        resources:
            runtime=60,
        shell:
            "sampling=(); if [[ -d {params.sampling} ]]; then sampling=(--sampling-dir {params.sampling}); fi; "
            "{params.python} -m plmtransfer.cli.stats report --results-dir {params.results} \"${{sampling[@]}}\" "
            "--metadata-dir {params.metadata} --out-dir {params.out_dir} --figures-dir {params.figures} "
            "{params.stage_args} > {log} 2>&1"
