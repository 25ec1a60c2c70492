#!/usr/bin/env bash
# A SLURM cluster of two nodes on localhost, for testing the `slurm` Snakemake profile and multi-node training.
#
#   scripts/slurm-local.sh install   apt-get the Debian packages (slurmctld slurmd slurm-client munge, and for
#                                    accounting slurmdbd mariadb-server-core mariadb-client-core)
#   scripts/slurm-local.sh start     configure and start munged, [mariadbd, slurmdbd,] slurmctld, one slurmd per
#                                    node; wait until every node is idle
#   scripts/slurm-local.sh stop      stop the daemons this script started (by PID file)
#   scripts/slurm-local.sh status    show the daemons, `sinfo` and `sacctmgr show cluster`
#
# Each command is idempotent. Needs root and a Debian/Ubuntu package mirror; no systemd, no cgroups.
# Accounting, as production clusters run it: a MariaDB server (data in $UNIX_SLURM_DIR/mysql, 127.0.0.1 only)
# behind slurmdbd, so `sacct` answers and the Snakemake SLURM plugin's default status checks (sacct) work.
# UNIX_SLURM_ACCOUNTING=none starts a cluster without accounting instead (`sacct` fails, as on clusters
# without slurmdbd); Snakemake then needs `--slurm-status-command squeue` (see profiles/slurm/config.yaml).
# Nodes: UNIX_SLURM_NODES (default 2) slurmd daemons on this one host, `slurmd -N <name>` each on its own
# port: the first is named after the host (`hostname -s`, which must resolve: multi-node training meets at the
# first node's name), the others <host>-2, ...; jobs with `-N 2` get both, so multi-node launches run for real
# (over loopback). Debian's slurmd accepts several daemons per host under distinct node names and ports.
# Each node has count-only GPUs: 8 of gres type l20 and 8 of type a100 (files are symlinks to /dev/null),
# in partitions l20 and a100, with a CPU partition `cpu` (default) and `gpu` (all GPU types). Nothing is
# fenced: memory and GPUs are scheduling numbers only. CPU-only training (UNIX_SLURM_CPU_TRAINING=1, the
# default): every task gets UNIX_LAUNCH_CPU_PROCESSES=per_gpu (TaskProlog), so a training job given N of the
# count-only GPUs runs `accelerate launch` with N CPU processes over gloo (unix/launch.py) instead of one
# process. Finished jobs stay in `scontrol show job` for an hour (MinJobAge, for squeue status checks without
# accounting) and every finished job is appended to $UNIX_SLURM_DIR/jobcomp.log (SLURM's jobcomp/filetxt).
# On failure the reason is printed on stderr and the exit status is non-zero.
set -euo pipefail

STATE=${UNIX_SLURM_DIR:-/var/lib/unix-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by unix scripts/slurm-local.sh"
NODE=$(hostname -s)
NODE_COUNT=${UNIX_SLURM_NODES:-2}   # slurmd daemons (nodes) on this host
case "$NODE_COUNT" in [1-9]) ;; *) echo "slurm-local: UNIX_SLURM_NODES=$NODE_COUNT; use 1 to 9" >&2; exit 2;; esac
NODES=$NODE
for _i in $(seq 2 "$NODE_COUNT"); do NODES+=" $NODE-$_i"; done
NODE_CSV=${NODES// /,}
SLURMD_PORT=6818                    # node i listens on SLURMD_PORT + 10 (i - 1)
CPUS=${UNIX_SLURM_CPUS:-64}        # declared (not real) cores, so the project's config.yaml requests fit
MEM_MB=${UNIX_SLURM_MEM_MB:-512000} # declared memory in MB
GPUS_PER_TYPE=8
ACCOUNTING=${UNIX_SLURM_ACCOUNTING:-slurmdbd}  # slurmdbd (MariaDB + slurmdbd) or none
DB_PORT=${UNIX_SLURM_DB_PORT:-13306}           # MariaDB on 127.0.0.1 (not 3306: leave a real server alone)
DBD_PORT=${UNIX_SLURM_DBD_PORT:-6819}          # slurmdbd on 127.0.0.1
CPU_TRAINING=${UNIX_SLURM_CPU_TRAINING:-1}     # 1: jobs run one CPU process per count-only GPU (see above)
DBD_CONF=/etc/slurm/slurmdbd.conf
CLUSTER=unix-local
case "$ACCOUNTING" in slurmdbd|none) ;; *) echo "slurm-local: UNIX_SLURM_ACCOUNTING=$ACCOUNTING; use slurmdbd or none" >&2; exit 2;; esac

die() { echo "slurm-local: $*" >&2; exit 1; }
log() { echo "slurm-local: $*" >&2; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); run it with sudo"; }

installed() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
  && command -v munged >/dev/null && { [ "$ACCOUNTING" = none ] || accounting_installed; }; }
accounting_installed() { command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null \
  && command -v mariadb-install-db >/dev/null && command -v mariadb >/dev/null; }

cmd_install() {
  if installed; then log "already installed ($(slurmctld -V))"; return; fi
  need_root
  command -v apt-get >/dev/null || die "apt-get not found: install slurmctld, slurmd, slurm-client and munge (and for accounting slurmdbd and a MariaDB server) with your package manager"
  # Keep the maintainer scripts from starting services (no systemd here); removed again on exit.
  local policy=/usr/sbin/policy-rc.d
  local had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
  local pkgs="slurmctld slurmd slurm-client munge"
  # The server and client cores only: mariadb-server would pull Perl, Galera and rsync for nothing used here.
  [ "$ACCOUNTING" = none ] || pkgs+=" slurmdbd mariadb-server-core mariadb-client-core"
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
  installed || die "packages installed but slurmctld/slurmd/sbatch/munged (or slurmdbd/mariadbd) are not on PATH"
  log "installed $(slurmctld -V) (accounting: $ACCOUNTING)"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  local f
  for f in "$CONF" "$DBD_CONF"; do
    if [ -f "$f" ] && ! grep -qF "$MARK" "$f"; then
      die "$f exists and was not written by this script: refusing to overwrite a real cluster's configuration"
    fi
  done
  mkdir -p /etc/slurm "$STATE/dev" "$STATE/ctld" "$STATE/slurmd"
  local t i n gres_conf="" node_lines="" port=$SLURMD_PORT
  for t in l20 a100; do
    for i in $(seq 0 $((GPUS_PER_TYPE - 1))); do ln -sfn /dev/null "$STATE/dev/$t$i"; done
  done
  for n in $NODES; do
    mkdir -p "$STATE/slurmd/$n"
    for t in l20 a100; do
      gres_conf+="NodeName=$n Name=gpu Type=$t File=$STATE/dev/$t[0-$((GPUS_PER_TYPE - 1))]"$'\n'
    done
    node_lines+="NodeName=$n NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$port CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:l20:$GPUS_PER_TYPE,gpu:a100:$GPUS_PER_TYPE State=UNKNOWN"$'\n'
    port=$((port + 10))
  done
  printf '%s\nAutoDetect=off\n%s' "$MARK" "$gres_conf" >/etc/slurm/gres.conf
  # TaskProlog: each line "export NAME=value" it prints is set in every task's environment.
  local prolog=$STATE/task-prolog.sh
  printf '#!/bin/sh\n%s\n' "$MARK" >"$prolog"
  [ "$CPU_TRAINING" = 1 ] && echo 'echo "export UNIX_LAUNCH_CPU_PROCESSES=per_gpu"' >>"$prolog"
  chmod 755 "$prolog"
  local accounting="# no accounting (UNIX_SLURM_ACCOUNTING=none): sacct fails; use squeue for job states"
  if [ "$ACCOUNTING" = slurmdbd ]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  fi
  local old=""
  [ -f "$CONF" ] && old=$(cat "$CONF")
  cat >"$CONF" <<CONF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd/%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
TaskProlog=$prolog
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
$accounting
${node_lines}PartitionName=cpu Nodes=$NODE_CSV Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE_CSV MaxTime=INFINITE State=UP
PartitionName=l20 Nodes=$NODE_CSV MaxTime=INFINITE State=UP
PartitionName=a100 Nodes=$NODE_CSV MaxTime=INFINITE State=UP
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

DB_DIR=$STATE/mysql
DB_SOCK=$STATE/mysql/mysqld.sock
db() { mariadb --no-defaults -uroot --socket="$DB_SOCK" "$@"; }

start_mariadb() {  # a private MariaDB server for slurmdbd: data in $DB_DIR, TCP on 127.0.0.1:$DB_PORT
  if pid_alive "$STATE/mariadbd.pid" && db -e 'SELECT 1' >/dev/null 2>&1; then return; fi
  mkdir -p "$DB_DIR"
  if [ ! -d "$DB_DIR/data/mysql" ]; then
    rm -rf "$DB_DIR/data"
    # Runs as root (Debian's mariadb-server-core creates no mysql user); root logs in by socket, no password.
    mariadb-install-db --no-defaults --user=root --datadir="$DB_DIR/data" --auth-root-authentication-method=normal \
      --skip-test-db --skip-name-resolve >"$DB_DIR/install.log" 2>&1 \
      || die "mariadb-install-db failed: $(tail -5 "$DB_DIR/install.log")"
  fi
  : >"$STATE/mariadbd.log"
  # Detached from the caller's stdout/stderr, so that `subprocess.run(capture_output=True)` of this script returns.
  setsid mariadbd --no-defaults --user=root --datadir="$DB_DIR/data" --socket="$DB_SOCK" \
    --pid-file="$STATE/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
    --log-error="$STATE/mariadbd.log" --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 \
    </dev/null >>"$STATE/mariadbd.log" 2>&1 &
  local i pid=$!
  for i in $(seq 300); do
    db -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "mariadbd exited: $(grep -E 'ERROR' "$STATE/mariadbd.log" | tail -3)"
    [ "$i" = 300 ] && die "MariaDB did not answer within 30 s: $(tail -5 "$STATE/mariadbd.log")"
    sleep 0.1
  done
  # slurmdbd logs in over TCP as user slurm, whose password lives only in $STATE (mode 600) and slurmdbd.conf.
  if [ ! -s "$STATE/db.pass" ]; then (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$STATE/db.pass"); fi
  local pass
  pass=$(cat "$STATE/db.pass")
  db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
         ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the MariaDB user slurm"
}

write_dbd_conf() {
  (umask 077; cat >"$DBD_CONF" <<DBD
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$STATE/db.pass")
StorageLoc=slurm_acct_db
DBD
)
  chown root:root "$DBD_CONF"
  chmod 600 "$DBD_CONF"  # slurmdbd refuses a readable file (it holds the password)
}

start_slurmdbd() {
  write_dbd_conf
  if ! pid_alive "$STATE/slurmdbd.pid"; then
    : >"$STATE/slurmdbd.log"
    slurmdbd </dev/null >/dev/null 2>&1 || die "slurmdbd did not start: $(tail -5 "$STATE/slurmdbd.log" 2>/dev/null)"
  fi
  local i
  for i in $(seq 150); do
    timeout 5 sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1 && break
    pid_alive "$STATE/slurmdbd.pid" || die "slurmdbd exited: $(grep -E 'fatal|error' "$STATE/slurmdbd.log" | tail -3)"
    [ "$i" = 150 ] && die "slurmdbd did not answer sacctmgr within 30 s: $(tail -5 "$STATE/slurmdbd.log")"
    sleep 0.2
  done
  # The cluster must exist in the database before slurmctld registers; adding it also adds account root
  # with user root, so `slurm_account: root` (config resources.account) validates.
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
  fi
}

cmd_start() {
  need_root
  installed || die "SLURM is not installed (accounting: $ACCOUNTING): run '$0 install' first"
  mkdir -p "$STATE"
  write_conf
  start_munge
  if [ "$ACCOUNTING" = slurmdbd ]; then
    start_mariadb
    log "MariaDB up (${SECONDS} s)"
    start_slurmdbd
    log "slurmdbd up (${SECONDS} s)"
  elif pid_alive "$STATE/slurmdbd.pid"; then
    stop_pid "$STATE/slurmdbd.pid" slurmdbd
    stop_pid "$STATE/mariadbd.pid" mariadbd
  fi
  if [ "$CONF_CHANGED" = 1 ] && pid_alive "$STATE/slurmctld.pid"; then
    # Accounting and TaskProlog changes need restarted daemons, not `scontrol reconfigure`.
    log "slurm.conf changed: restarting slurmctld and slurmd"
    stop_slurmds
    stop_pid "$STATE/slurmctld.pid" slurmctld
  fi
  if ! pid_alive "$STATE/slurmctld.pid"; then
    # -c: start from a clean state (no jobs of an earlier run); -i: ignore unreadable state files.
    : >"$STATE/slurmctld.log"
    slurmctld -c -i </dev/null >/dev/null 2>&1 || die "slurmctld did not start: $(tail -5 "$STATE/slurmctld.log" 2>/dev/null)"
  fi
  local n
  for n in $NODES; do
    pid_alive "$STATE/slurmd-$n.pid" && continue
    : >"$STATE/slurmd-$n.log"
    slurmd -N "$n" </dev/null >/dev/null 2>&1 || die "slurmd -N $n did not start: $(tail -5 "$STATE/slurmd-$n.log" 2>/dev/null)"
  done
  local i states="" ready
  sleep 0.5
  for i in $(seq 60); do
    pid_alive "$STATE/slurmctld.pid" || die "slurmctld exited: $(grep -E 'fatal|error' "$STATE/slurmctld.log" | tail -3)"
    for n in $NODES; do
      pid_alive "$STATE/slurmd-$n.pid" || die "slurmd -N $n exited: $(grep -E 'fatal|error' "$STATE/slurmd-$n.log" | tail -3)"
    done
    # One line "<node> <state>" per node; ready when every node is up.
    states=$(timeout 5 sinfo -h -N -n "$NODE_CSV" -o "%N %T" 2>/dev/null | sort -u || true)
    ready=$(echo "$states" | grep -cE ' (idle|mixed|allocated)$' || true)
    [ "$ready" = "$NODE_COUNT" ] && break
    sleep 0.5
  done
  [ "$ready" = "$NODE_COUNT" ] \
    || die "not every node is idle after 30 s: $(echo $states); $(tail -3 "$STATE/slurmctld.log" 2>/dev/null)"
  log "nodes $NODES up (${SECONDS} s)"
  local check="unix-local-check-$$-$RANDOM"
  timeout 60 srun -p cpu -N"$NODE_COUNT" --ntasks-per-node=1 -J "$check" true || die "srun true failed on the started cluster: $(tail -5 "$STATE/slurmctld.log")"
  if [ "$ACCOUNTING" = slurmdbd ]; then
    # The job just run must reach the database: then the plugin's sacct status checks will see every job.
    for i in $(seq 50); do
      [ -n "$(timeout 5 sacct -n -X -P -o JobID --name "$check" -S now-1hour 2>/dev/null)" ] && break
      [ "$i" = 50 ] && die "sacct shows no job after 'srun true' (slurmctld -> slurmdbd): $(grep -iE 'error|dbd' "$STATE/slurmctld.log" | tail -3)"
      sleep 0.2
    done
  fi
  log "running: nodes $NODES, partitions $(sinfo -h -o %P | tr '\n' ' ')(accounting: $ACCOUNTING; ${SECONDS} s)"
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

stop_slurmds() {  # every node's slurmd, including nodes of an earlier UNIX_SLURM_NODES and the one-node layout
  local f
  for f in "$STATE"/slurmd-*.pid "$STATE/slurmd.pid"; do stop_pid "$f" "slurmd ($(basename "$f" .pid))"; done
}

cmd_stop() {
  need_root
  stop_slurmds
  stop_pid "$STATE/slurmctld.pid" slurmctld
  stop_pid "$STATE/slurmdbd.pid" slurmdbd
  stop_pid "$STATE/mariadbd.pid" mariadbd
  stop_pid "$STATE/munged.pid" munged  # only a munged this script started
  log "stopped"
}

cmd_status() {
  local f
  for f in munged mariadbd slurmdbd slurmctld $(for n in $NODES; do echo "slurmd-$n"; done); do
    if pid_alive "$STATE/$f.pid"; then echo "$f: running (pid $(cat "$STATE/$f.pid"))"; else echo "$f: not running (as started by this script)"; fi
  done
  if command -v sinfo >/dev/null; then sinfo -o "%P %a %D %T %G" 2>&1 || true; fi
  if command -v sacctmgr >/dev/null; then timeout 10 sacctmgr -n show cluster format=cluster,controlhost 2>&1 || true; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
