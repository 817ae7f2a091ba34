"""A sweep on a real Slurm cluster through the Slurm profile: its results equal a local run's.

CI starts a one-node cluster (slurmctld + slurmd on localhost) with ``.ci/slurm.sh``; the test
is skipped, with the reason, where no cluster answers or the executor plugin
(``pip install -e '.[slurm]'``) is not installed. Two real DMS assays from the offline mirror,
subsampled, with one-hot: prepare, extract, regress and the stats report, once with the local
profile and once with a copy of ``workflow/profiles/slurm`` that names the cluster's partition.
The Slurm run's interpreter (``--python``) is a probe that records, for each stage process, the
job it ran in, its ancestors and its TMPDIR, so the test sees that slurmd started it and that
every job had a TMPDIR of its own, not the submitting process's.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.test_drivers import run_driver, summary

pytestmark = [pytest.mark.slow, pytest.mark.ci_required]

ASSAYS = ("IF1_ECOLI", "RL401_YEAST_Bolon2013")
VARIANTS = 200
TIMING_COLUMN = re.compile(r"seconds|time", re.IGNORECASE)
START_CLUSTER = "as root, `bash .ci/slurm.sh` starts a one-node cluster"
# The interpreter of the Slurm run: for a stage process (python -m plmtransfer.cli.<stage>), one
# file with its job, TMPDIR and ancestors (process names, from /proc); then the real interpreter.
PROBE = """#!/bin/sh
case "$1 $2" in "-m plmtransfer.cli."*) {{
  echo "SLURM_JOB_ID=$SLURM_JOB_ID"
  echo "TMPDIR=$TMPDIR"
  if [ -d "$TMPDIR" ]; then echo "TMPDIR_PRESENT=1"; fi
  p=$$
  while [ "$p" -gt 1 ]; do
    echo "ANCESTOR=$(cat /proc/$p/comm)"
    p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
  done
}} > {probes}/$$.env ;; esac
exec {python} "$@"
"""


def cluster_partition() -> str:
    """The default partition of the Slurm cluster this machine reaches; skip when there is none."""
    missing = [command for command in ("sbatch", "sinfo", "squeue") if not shutil.which(command)]
    if missing:
        pytest.skip(f"Slurm's commands not found ({', '.join(missing)}): {START_CLUSTER}")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm not installed: pip install -e '.[slurm]'")
    try:
        sinfo = subprocess.run(["sinfo", "--noheader", "--format", "%P %t"], capture_output=True, text=True,
                               timeout=30, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"sinfo got no answer in 30 s: {START_CLUSTER}")
    if sinfo.returncode != 0:
        pytest.skip(f"no Slurm cluster answers (sinfo: {sinfo.stderr.strip()}): {START_CLUSTER}")
    ready = [line.split()[0] for line in sinfo.stdout.splitlines()
             if line.split()[0].endswith("*") and line.split()[1] in ("idle", "mix", "alloc")]
    if not ready:
        pytest.skip(f"no node of the default partition takes jobs (sinfo: {sinfo.stdout.strip()}): {START_CLUSTER}")
    return ready[0].rstrip("*")


def slurm_profile(directory: Path, partition: str) -> Path:
    """The shipped Slurm profile, set up for this cluster: its partition, no account, small jobs.

    Status checks every second instead of the plugin's 40 s, through squeue (a cluster without an
    accounting database has no sacct); Slurm's logs of successful jobs are kept.
    """
    profile = yaml.safe_load((REPO_ROOT / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    resources = profile["default-resources"]
    resources.pop("slurm_account")
    resources.update(slurm_partition=partition, mem_mb=1000, runtime=10)
    profile.update({"config": [f"gpu_partition={partition}"], "latency-wait": 5,
                    "seconds-between-status-checks": 1, "slurm-init-seconds-before-status-checks": 1,
                    "slurm-status-command": "squeue", "slurm-keep-successful-logs": True})
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def probe_interpreter(path: Path, probes: Path) -> Path:
    """A stage interpreter that writes one record per process under ``probes``, then runs this Python."""
    probes.mkdir()
    path.write_text(PROBE.format(probes=probes, python=sys.executable))
    path.chmod(0o755)
    return path


def read_probes(probes: Path) -> list[dict]:
    """The probe records: SLURM_JOB_ID, TMPDIR, TMPDIR_PRESENT and the list of ANCESTOR names."""
    records = []
    for path in sorted(probes.glob("*.env")):
        record = {"ANCESTOR": []}
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "ANCESTOR":
                record["ANCESTOR"].append(value)
            else:
                record[key] = value
        records.append(record)
    return records


def result_tables(root: Path) -> dict[str, pd.DataFrame]:
    """Every CSV under the root's results/, by relative path, without its timing columns."""
    tables = {}
    for path in sorted((root / "results").rglob("*.csv")):
        frame = pd.read_csv(path)
        tables[str(path.relative_to(root))] = frame[[c for c in frame.columns if not TIMING_COLUMN.search(c)]]
    return tables


def sweep(root: Path, profile: str, config: Path, env: dict, python: str = sys.executable):
    """The stats driver on the assays with one-hot (prepare, extract, regress, report); the completed process."""
    return run_driver("run_stats_DMS.sh", "--root", str(root), "--datasets", " ".join(ASSAYS), "--models", "onehot",
                      "--configfile", str(config), "--profile", profile, "--jobs", "2", "--python", python,
                      "--quiet", env=env)


def test_a_slurm_sweep_runs_in_slurm_jobs_and_equals_a_local_run(tmp_path, mirror):
    """Every stage runs in a job of its own under slurmd with its own TMPDIR; the results equal a local run's."""
    partition = cluster_partition()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"mirror": str(mirror), "subsample": {"DMS": VARIANTS, "seed": 0}}))
    submitter_tmp = tmp_path / "submitter-tmp"
    submitter_tmp.mkdir()
    env = {"TMPDIR": str(submitter_tmp)}
    probes = tmp_path / "probes"
    python = probe_interpreter(tmp_path / "python", probes)

    local = sweep(tmp_path / "local", "local", config, env)
    assert local.returncode == 0, local.stdout + local.stderr
    slurm = sweep(tmp_path / "slurm", str(slurm_profile(tmp_path / "profile", partition)), config, env, str(python))
    assert slurm.returncode == 0, slurm.stdout + slurm.stderr

    done, failed = summary(slurm.stdout)
    assert (done, failed) == summary(local.stdout)
    records = read_probes(probes)
    assert len(records) == done, records  # every stage process went through the probe
    job_ids = [record["SLURM_JOB_ID"] for record in records]
    assert all(job_id.isdigit() for job_id in job_ids), records
    assert len(set(job_ids)) == len(records), records  # one Slurm job per stage process
    assert all("slurmstepd" in record["ANCESTOR"] for record in records), records
    tmpdirs = [record["TMPDIR"] for record in records]
    assert all(record.get("TMPDIR_PRESENT") == "1" for record in records), records
    assert str(submitter_tmp) not in tmpdirs and len(set(tmpdirs)) == len(records), records

    local_tables, slurm_tables = result_tables(tmp_path / "local"), result_tables(tmp_path / "slurm")
    assert {f"results/lassoCV/DMS/onehot/{assay}_flat.csv" for assay in ASSAYS} <= set(local_tables)
    assert slurm_tables.keys() == local_tables.keys()
    for name, table in local_tables.items():
        assert len(table), name
        pd.testing.assert_frame_equal(slurm_tables[name], table, check_exact=True, obj=name)
