# Data preparation: the DMS assays and the PISCES chain set + targets, from the offline mirror
# (config `mirror`) or the canonical source. Data already under data/ is used as it is.

MIRROR = config.get("mirror") or ""
OFFLINE = "--offline" if os.environ.get("PLMTRANSFER_OFFLINE") == "1" else ""


rule prepare_dms:
    output:
        metadata=study.metadata_path("DMS", "{dms_dataset}"),
        fasta=study.fasta_path("DMS", "{dms_dataset}"),
    log:
        "logs/prepare/DMS/{dms_dataset}.log",
    params:
        **COMMON,
        mirror=f"--mirror {MIRROR}/dms" if MIRROR else "",
        offline=OFFLINE,
    resources:
        runtime=30,
    shell:
        "{params.python} {params.scripts}/prepare_dms.py --datasets {wildcards.dms_dataset} {params.mirror} "
        "--out-dir data {params.offline} --quiet > {log} 2>&1"


rule prepare_pisces:
    output:
        fasta=study.fasta_path("PISCES", config["sets"]["PISCES"]["unit"]),
        metadata=[study.metadata_path("PISCES", target) for target in study.datasets(config, "PISCES")],
    log:
        "logs/prepare/PISCES/prepare.log",
    params:
        **COMMON,
        mirror=f"--mirror {MIRROR}/pisces" if MIRROR else "",
    resources:
        runtime=60,
    shell:
        "{params.python} {params.scripts}/prepare_pisces.py {params.mirror} --out-dir data --quiet > {log} 2>&1"
