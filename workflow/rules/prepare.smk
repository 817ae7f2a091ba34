# Data preparation: the DMS assays, the PISCES chain set + targets and FLIP's GB1 splits, from the
# data mirror (config `mirror`: the data root holding dms/, pisces/ and flip_gb1/) or the canonical
# source (FLIP: the mirror only). Data already under data/ is used as it is.

MIRROR = config.get("mirror") or ""
OFFLINE = "--offline" if os.environ.get("PLMTRANSFER_OFFLINE") == "1" else ""
SUBSAMPLE = config.get("subsample") or {}


def subsample_flag(set_name, flag):
    """``--max-variants N --seed S`` (or ``--max-chains``) when the config subsamples the set."""
    size = SUBSAMPLE.get(set_name)
    return f"{flag} {int(size)} --seed {int(SUBSAMPLE.get('seed') or 0)}" if size else ""


def mirror_flag(set_name):
    """``--mirror <mirror>/<set's folder>`` when the config names a mirror (else the canonical source)."""
    return f"--mirror {Path(MIRROR) / validation.MIRROR_FOLDERS[set_name]}" if MIRROR else ""


rule prepare_dms:
    output:
        metadata=study.metadata_path("DMS", "{dataset}"),
        fasta=study.fasta_path("DMS", "{dataset}"),
    log:
        "logs/prepare/DMS/{dataset}.log",
    params:
        **COMMON,
        mirror=mirror_flag("DMS"),
        offline=OFFLINE,
        subsample=subsample_flag("DMS", "--max-variants"),
    resources:
        runtime=30,
    shell:
        "{params.python} -m plmtransfer.cli.prepare_dms --datasets {wildcards.dataset} {params.mirror} "
        "--out-dir data {params.offline} {params.subsample} --quiet > {log} 2>&1"


rule prepare_pisces:
    output:
        fasta=study.fasta_path("PISCES", config["sets"]["PISCES"]["unit"]),
        metadata=[study.metadata_path("PISCES", target) for target in study.datasets(config, "PISCES")],
    log:
        "logs/prepare/PISCES/prepare.log",
    params:
        **COMMON,
        mirror=mirror_flag("PISCES"),
        subsample=subsample_flag("PISCES", "--max-chains"),
    resources:
        runtime=60,
    shell:
        "{params.python} -m plmtransfer.cli.prepare_pisces {params.mirror} --out-dir data {params.subsample} "
        "--quiet > {log} 2>&1"


rule prepare_flip:
    output:
        fasta=study.fasta_path("FLIP", config["sets"]["FLIP"]["unit"]),
        metadata=[study.metadata_path("FLIP", split) for split in study.datasets(config, "FLIP")],
    log:
        "logs/prepare/FLIP/prepare.log",
    params:
        **COMMON,
        source=str(Path(MIRROR) / validation.MIRROR_FOLDERS["FLIP"]),
    resources:
        runtime=30,
    shell:
        (
            "{params.python} -m plmtransfer.cli.prepare_flip --source {params.source:q} --out-dir data > {log} 2>&1"
            if MIRROR
            else "echo 'prepare_flip: no data mirror: pass --mirror DIR (the data root holding "
            "flip_gb1/<split>.csv.gz) or set mirror in the config' > {log}; exit 2"
        )
