# Statistics and figures: one scripts/stats.py report per family and variant (outer CV scheme x
# protocol) over the family's results at each model's own layer (a layer sweep's other layers are
# in their own folders, results/lassoCV<variant>_L<layer>/); learning curves join when this run
# covers the lassoCV_sampling step (else those already on disk are used).


def stats_targets(set_name):
    """The report markers of a family, one per variant."""
    return [str(layout.stats_dir(set_name, cv, protocol=protocol) / ".complete")
            for cv, protocol in VARIANTS[set_name].values()]


def stats_inputs(set_name):
    """Input function: the family's regression results of the job's variant at the models' own layers."""

    def inputs(wildcards):
        cv, protocol = variant_of(set_name, wildcards)
        steps = [REGRESS_STEP] + [LEARNING_CURVE_STEP] * (LEARNING_CURVE_STEP in STAGES)
        results = [path for step in steps for path in regression_targets(step, set_name)]
        prefixes = [str(layout.results_dir(step, cv, set_name, protocol=protocol)) + "/" for step in steps]
        return [path for path in results if path.startswith(tuple(prefixes))]

    return inputs


def variant_dir(set_name, path_of):
    """Params function: a folder of the job's variant, ``path_of(cv, protocol)``."""
    return lambda wildcards: str(path_of(*variant_of(set_name, wildcards)))


for set_name in RUN_SETS:

    rule:
        name:
            f"stats_report_{set_name}"
        input:
            stats_inputs(set_name),
        output:
            touch(variant_pattern(lambda cv, protocol: layout.stats_dir(set_name, cv, protocol=protocol) / ".complete")),
        log:
            variant_pattern(lambda cv, protocol: layout.stats_log_path(set_name, cv, protocol=protocol)),
        wildcard_constraints:
            variant=variant_alternatives(VARIANTS[set_name]),
        params:
            **COMMON,
            results=variant_dir(set_name, lambda cv, protocol, set_name=set_name: layout.results_dir(
                REGRESS_STEP, cv, set_name, protocol=protocol)),
            sampling=variant_dir(set_name, lambda cv, protocol, set_name=set_name: layout.results_dir(
                LEARNING_CURVE_STEP, cv, set_name, protocol=protocol)),
            metadata=study.metadata_dir(set_name),
            out_dir=lambda wildcards, output: str(Path(output[0]).parent),
            figures=variant_dir(set_name, lambda cv, protocol, set_name=set_name: layout.figures_dir(
                set_name, cv, protocol=protocol)),
        resources:
            runtime=60,
        shell:
            "sampling=(); if [[ -d {params.sampling} ]]; then sampling=(--sampling-dir {params.sampling}); fi; "
            "{params.python} -m plmtransfer.cli.stats report --results-dir {params.results} \"${{sampling[@]}}\" "
            "--metadata-dir {params.metadata} --out-dir {params.out_dir} --figures-dir {params.figures} "
            "{params.stage_args} > {log} 2>&1"
