# Statistics and figures: one scripts/stats.py report per family and CV scheme over the
# family's results; learning curves join when this run covers the lassoCV_sampling stage
# (else those already on disk are used).

for set_name in RUN_SETS:
    for cv in CV_SCHEMES:
        suffix = "" if cv == "random" else f"_{cv}"
        marker = f"results/stats{suffix}/{set_name}/.complete"
        TARGETS.setdefault(("stats", set_name), []).append(marker)
        inputs = list(RESULTS.get(("lassoCV", set_name, cv), []))
        if "lassoCV_sampling" in STAGES:
            inputs += RESULTS.get(("lassoCV_sampling", set_name, cv), [])

        rule:
            name:
                f"stats_report_{set_name}_{cv}"
            input:
                inputs,
            output:
                touch(marker),
            log:
                f"logs/stats/{set_name}{suffix}.log",
            params:
                **COMMON,
                results=lambda wildcards, input: str(Path(input[0]).parents[1]),
                sampling=f"results/{study.results_name('lassoCV_sampling', cv)}/{set_name}",
                metadata=study.metadata_dir(set_name),
                out_dir=lambda wildcards, output: str(Path(output[0]).parent),
                figures=f"figures/{set_name}{suffix}",
            resources:
                runtime=60,
            shell:
                "sampling=(); if [[ -d {params.sampling} ]]; then sampling=(--sampling-dir {params.sampling}); fi; "
                "{params.python} {params.scripts}/stats.py report --results-dir {params.results} \"${{sampling[@]}}\" "
                "--metadata-dir {params.metadata} --out-dir {params.out_dir} --figures-dir {params.figures} "
                "{params.stage_args} > {log} 2>&1"
