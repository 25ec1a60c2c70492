#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for testing the `slurm` Snakemake profile.
#
#   scripts/slurm-local.sh install   apt-get the Debian packages (slurmctld slurmd slurm-client munge)
#   scripts/slurm-local.sh start     configure and start munged, slurmctld, slurmd; wait until the node is idle
#   scripts/slurm-local.sh stop      stop the daemons this script started (by PID file)
#   scripts/slurm-local.sh status    show the daemons and `sinfo`
#
# Each command is idempotent. Needs root and a Debian/Ubuntu package mirror; no systemd, no cgroups.
# The node has count-only GPUs: 8 of gres type l20 and 8 of type a100 (files are symlinks to /dev/null),
# in partitions l20 and a100, with a CPU partition `cpu` (default) and `gpu` (all GPU types). Nothing is
# fenced: memory and GPUs are scheduling numbers only. Finished jobs stay in `scontrol show job` for an hour
# (MinJobAge; the plugin's squeue status checks need them, there is no slurmdbd) and every finished job is
# appended to $UNIX_SLURM_DIR/jobcomp.log (SLURM's jobcomp/filetxt).
# On failure the reason is printed on stderr and the exit status is non-zero.
set -euo pipefail

STATE=${UNIX_SLURM_DIR:-/var/lib/unix-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by unix scripts/slurm-local.sh"
NODE=$(hostname -s)
CPUS=${UNIX_SLURM_CPUS:-64}        # declared (not real) cores, so the project's config.yaml requests fit
MEM_MB=${UNIX_SLURM_MEM_MB:-512000} # declared memory in MB
GPUS_PER_TYPE=8

die() { echo "slurm-local: $*" >&2; exit 1; }
log() { echo "slurm-local: $*" >&2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); run it with sudo"; }

installed() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
  && command -v munged >/dev/null; }

cmd_install() {
  if installed; then log "already installed ($(slurmctld -V))"; return; fi
  need_root
  command -v apt-get >/dev/null || die "apt-get not found: install slurmctld, slurmd, slurm-client and munge with your package manager"
  # Keep the maintainer scripts from starting services (no systemd here); removed again on exit.
  local policy=/usr/sbin/policy-rc.d
  local had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
  local pkgs="slurmctld slurmd slurm-client munge"
  local err
  err=$(mktemp)
  local ok=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>"$err" && ok=1
  if [ $ok = 0 ]; then
    log "apt-get install failed, running apt-get update and retrying"
    apt-get update -qq >/dev/null 2>>"$err" || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>>"$err" && ok=1
  fi
  [ $had_policy = 0 ] && rm -f "$policy"
  [ $ok = 1 ] || die "apt-get install $pkgs failed: $(tail -5 "$err")"
  rm -f "$err"
  installed || die "packages installed but slurmctld/slurmd/sbatch/munged are not on PATH"
  log "installed $(slurmctld -V)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script: refusing to overwrite a real cluster's configuration"
  fi
  mkdir -p /etc/slurm "$STATE/dev" "$STATE/ctld" "$STATE/slurmd"
  local t i gres_conf=""
  for t in l20 a100; do
    for i in $(seq 0 $((GPUS_PER_TYPE - 1))); do ln -sfn /dev/null "$STATE/dev/$t$i"; done
    gres_conf+="NodeName=$NODE Name=gpu Type=$t File=$STATE/dev/$t[0-$((GPUS_PER_TYPE - 1))]"$'\n'
  done
  printf '%s\nAutoDetect=off\n%s' "$MARK" "$gres_conf" >/etc/slurm/gres.conf
  local old=""
  [ -f "$CONF" ] && old=$(cat "$CONF")
  cat >"$CONF" <<CONF
$MARK
ClusterName=unix-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
DefMemPerCPU=$((MEM_MB / CPUS))
MinJobAge=3600
KillWait=5
InactiveLimit=0
GresTypes=gpu
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:l20:$GPUS_PER_TYPE,gpu:a100:$GPUS_PER_TYPE State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
PartitionName=l20 Nodes=$NODE MaxTime=INFINITE State=UP
PartitionName=a100 Nodes=$NODE MaxTime=INFINITE State=UP
CONF
  CONF_CHANGED=0
  [ "$old" = "$(cat "$CONF")" ] || CONF_CHANGED=1
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  id munge >/dev/null 2>&1 || die "user munge does not exist (is the munge package installed?)"
  mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid || die "munged did not start: $(tail -3 /var/log/munge/munged.log 2>/dev/null)"
  cp /run/munge/munged.pid "$STATE/munged.pid"
  local i
  for i in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  die "munge does not work (munge -n | unmunge fails): $(tail -3 /var/log/munge/munged.log 2>/dev/null)"
}

cmd_start() {
  need_root
  installed || die "SLURM is not installed: run '$0 install' first"
  mkdir -p "$STATE"
  write_conf
  start_munge
  if [ "$CONF_CHANGED" = 1 ] && pid_alive "$STATE/slurmctld.pid"; then
    log "slurm.conf changed: scontrol reconfigure"
    timeout 30 scontrol reconfigure || die "scontrol reconfigure failed after a change of $CONF"
  fi
  if ! pid_alive "$STATE/slurmctld.pid"; then
    # -c: start from a clean state (no jobs of an earlier run); -i: ignore unreadable state files.
    : >"$STATE/slurmctld.log"
    slurmctld -c -i || die "slurmctld did not start: $(tail -5 "$STATE/slurmctld.log" 2>/dev/null)"
  fi
  if ! pid_alive "$STATE/slurmd.pid"; then
    : >"$STATE/slurmd.log"
    slurmd || die "slurmd did not start: $(tail -5 "$STATE/slurmd.log" 2>/dev/null)"
  fi
  local i state=""
  sleep 0.5
  for i in $(seq 60); do
    pid_alive "$STATE/slurmctld.pid" || die "slurmctld exited: $(grep -E 'fatal|error' "$STATE/slurmctld.log" | tail -3)"
    pid_alive "$STATE/slurmd.pid" || die "slurmd exited: $(grep -E 'fatal|error' "$STATE/slurmd.log" | tail -3)"
    state=$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null | sort -u | head -1 || true)
    case "$state" in idle|mixed|allocated) break ;; esac
    sleep 0.5
  done
  case "$state" in idle|mixed|allocated) ;;
    *) die "node $NODE is '${state:-unknown}' after 30 s, not idle: $(tail -5 "$STATE/slurmd.log" 2>/dev/null) $(tail -5 "$STATE/slurmctld.log" 2>/dev/null)";;
  esac
  timeout 60 srun -p cpu -N1 -n1 true || die "srun true failed on the started cluster: $(tail -5 "$STATE/slurmctld.log")"
  log "running: node $NODE $state, partitions $(sinfo -h -o %P | tr '\n' ' ')"
}

stop_pid() {  # stop_pid PIDFILE NAME: TERM, wait up to 10 s, then KILL
  local f=$1 name=$2 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored TERM, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

cmd_stop() {
  need_root
  stop_pid "$STATE/slurmd.pid" slurmd
  stop_pid "$STATE/slurmctld.pid" slurmctld
  stop_pid "$STATE/munged.pid" munged  # only a munged this script started
  log "stopped"
}

cmd_status() {
  local f
  for f in munged slurmctld slurmd; do
    if pid_alive "$STATE/$f.pid"; then echo "$f: running (pid $(cat "$STATE/$f.pid"))"; else echo "$f: not running (as started by this script)"; fi
  done
  if command -v sinfo >/dev/null; then sinfo -o "%P %a %D %T %G" 2>&1 || true; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
