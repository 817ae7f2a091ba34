# Data preparation: the DMS assays and the PISCES chain set + targets, from the offline mirror
# (config `mirror`) or the canonical source. Data already under data/ is used as it is.

MIRROR = config.get("mirror") or ""
OFFLINE = "--offline" if os.environ.get("PLMTRANSFER_OFFLINE") == "1" else ""
SUBSAMPLE = config.get("subsample") or {}


def subsample_flag(set_name, flag):
    """``--max-variants N --seed S`` (or ``--max-chains``) when the config subsamples the set."""
    size = SUBSAMPLE.get(set_name)
    return f"{flag} {int(size)} --seed {int(SUBSAMPLE.get('seed') or 0)}" if size else ""


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
        subsample=subsample_flag("DMS", "--max-variants"),
    resources:
        runtime=30,
    shell:
        "{params.python} {params.scripts}/prepare_dms.py --datasets {wildcards.dms_dataset} {params.mirror} "
        "--out-dir data {params.offline} {params.subsample} --quiet > {log} 2>&1"


rule prepare_pisces:
    output:
        fasta=study.fasta_path("PISCES", config["sets"]["PISCES"]["unit"]),
        metadata=[study.metadata_path("PISCES", target) for target in study.datasets(config, "PISCES")],
    log:
        "logs/prepare/PISCES/prepare.log",
    params:
        **COMMON,
        mirror=f"--mirror {MIRROR}/pisces" if MIRROR else "",
        subsample=subsample_flag("PISCES", "--max-chains"),
    resources:
        runtime=60,
    shell:
        "{params.python} {params.scripts}/prepare_pisces.py {params.mirror} --out-dir data {params.subsample} "
        "--quiet > {log} 2>&1"
