#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/test_slurm.py: Debian's slurm-wlm and munge,
# slurmctld and slurmd on localhost, one partition `ci` (the default). Needs root and apt-get.
#
#   bash .ci/slurm.sh     # install, configure, start, wait until the node is idle
#
# Idempotent: when the node already answers idle (or busy) it does nothing. Without cgroups
# (containers): processes tracked by /proc, no task binding, no accounting daemon (sacct does not
# work; the Slurm executor plugin then asks squeue, see tests/test_slurm.py). Every job gets a
# TMPDIR of its own, /tmp/slurm-job-<job id>, made by the TaskProlog and removed by the Epilog.
# Logs: /var/log/slurm/{slurmctld,slurmd}.log; munged's in /var/log/munge/.
set -euo pipefail

NODE=localhost
PARTITION=ci
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
MEMORY_MARGIN_MB=1024  # memory left to the system: RealMemory = detected - margin
START_WAIT_S=60

say() { echo ".ci/slurm.sh: $*"; }
fail() { echo ".ci/slurm.sh: error: $*" >&2; exit 1; }

node_state() {
  # The node's state as sinfo reports it (idle, mixed, allocated, down*, ...); empty when no answer.
  timeout 10 sinfo --noheader --nodes "$NODE" --format %T 2> /dev/null | head -n 1 || true
}

node_ready() {
  # True when the node takes jobs.
  [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]
}

running() {
  # True when the pid file $1 names a live process.
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2> /dev/null
}

install_packages() {
  # slurm-wlm (slurmctld, slurmd, the client commands) and munge, from Debian.
  if command -v slurmctld > /dev/null && command -v slurmd > /dev/null && command -v munged > /dev/null; then
    return
  fi
  command -v apt-get > /dev/null || fail "apt-get not found: install slurm-wlm and munge by hand"
  say "installing slurm-wlm and munge (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge > /dev/null
}

start_munge() {
  # munged as the munge user with a key of its own; checked with a credential round trip.
  local key=/etc/munge/munge.key
  if [[ ! -s "$key" ]]; then
    mungekey --create --keyfile "$key" 2> /dev/null || dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
  fi
  chown munge:munge "$key"
  chmod 400 "$key"
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
  if ! running /run/munge/munged.pid; then
    runuser -u munge -- munged
  fi
  munge -n | unmunge > /dev/null || fail "munge does not work (see /var/log/munge/munged.log)"
}

detected() {
  # One field (CPUs=, RealMemory=, ...) of the node as slurmd detects it.
  slurmd -C | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

write_config() {
  # slurm.conf for one node with the detected CPU layout, and the job TMPDIR scripts.
  local memory
  memory=$(($(detected RealMemory) - MEMORY_MARGIN_MB))
  install -d "$CONF_DIR" "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
  cat > "$CONF_DIR/slurm.conf" << EOF
# Written by .ci/slurm.sh: a one-node cluster for tests (no cgroups, no accounting daemon).
ClusterName=plmtransfer-ci
SlurmctldHost=$NODE
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Finished jobs stay visible to squeue for 10 minutes (the executor plugin's status queries).
MinJobAge=600
ReturnToService=2
TaskProlog=$CONF_DIR/task_prolog.sh
Epilog=$CONF_DIR/epilog.sh
NodeName=$NODE CPUs=$(detected CPUs) Boards=$(detected Boards) SocketsPerBoard=$(detected SocketsPerBoard) \
CoresPerSocket=$(detected CoresPerSocket) ThreadsPerCore=$(detected ThreadsPerCore) RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$CONF_DIR/task_prolog.sh" << 'EOF'
#!/bin/sh
# Slurm TaskProlog (runs as the job's user before each task): a TMPDIR of the job's own.
# Its "export NAME=VALUE" lines set the task's environment; the Epilog removes the folder.
dir="/tmp/slurm-job-$SLURM_JOB_ID"
mkdir -p "$dir" && chmod 700 "$dir" && echo "export TMPDIR=$dir"
EOF
  cat > "$CONF_DIR/epilog.sh" << 'EOF'
#!/bin/sh
# Slurm Epilog (runs as root when a job ends): remove the job's TMPDIR made by the TaskProlog.
[ -n "$SLURM_JOB_ID" ] && rm -rf "/tmp/slurm-job-$SLURM_JOB_ID"
exit 0
EOF
  chmod 755 "$CONF_DIR/task_prolog.sh" "$CONF_DIR/epilog.sh"
}

start_slurm() {
  # slurmctld and slurmd as daemons (no systemd), then wait for the node to take jobs.
  running /run/slurmctld.pid || slurmctld
  running /run/slurmd.pid || slurmd -N "$NODE"
  local waited=0
  until node_ready; do
    if ((waited == 10)) && [[ "$(node_state)" =~ ^(down|drain) ]]; then
      scontrol update NodeName="$NODE" State=RESUME || true
    fi
    ((waited++ < START_WAIT_S)) || fail "node $NODE not idle after ${START_WAIT_S}s (state: '$(node_state)'; see $LOG_DIR)"
    sleep 1
  done
}

main() {
  [[ "$(id -u)" == 0 ]] || fail "needs root (installs packages, writes $CONF_DIR, starts daemons)"
  if command -v sinfo > /dev/null && node_ready; then
    say "Slurm is up: node $NODE $(node_state), partition $PARTITION"
    return
  fi
  install_packages
  start_munge
  write_config
  start_slurm
  say "Slurm is up: node $NODE $(node_state), partition $PARTITION (logs: $LOG_DIR)"
}

main "$@"
