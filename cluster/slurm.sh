#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, from Debian's packages: munge (authentication),
# MariaDB + slurmdbd (accounting, so that sacct works), slurmctld and slurmd; one partition,
# `local`, with this machine's cores and memory and no GPUs.
#
#   cluster/slurm.sh up      (make slurm-up)    install what is missing, start, wait until idle
#   cluster/slurm.sh down    (make slurm-down)  stop every daemon it started, remove its state
#   cluster/slurm.sh status                     the daemons and sinfo
#
# Everything it starts keeps its state, logs and pid files in $STATE; the only file it writes
# elsewhere is /etc/slurm/slurm.conf (+ slurmdbd.conf), marked as its own: it never replaces
# a slurm.conf it did not write (a real cluster's).
set -euo pipefail

STATE=${DLTRICKS_SLURM_STATE:-/var/lib/dltricks-slurm}
ETC=/etc/slurm
MARK="# written by dltricks cluster/slurm.sh"
DB_PORT=${DLTRICKS_SLURM_DB_PORT:-3307}
PACKAGES=(slurmctld slurmd slurmdbd slurm-client munge mariadb-server)

die() { echo "slurm: $*" >&2; exit 2; }

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root: it installs Debian packages and starts system daemons (sudo make slurm-up)"
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || die "needs Debian's ${missing[*]}, and there is no apt-get here to install them"
    echo "slurm: installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$STATE/apt.log" 2>&1 \
        || die "apt-get could not install ${missing[*]}: see $STATE/apt.log"
}

write_config() {
    if [ -f "$ETC/slurm.conf" ] && ! grep -qF "$MARK" "$ETC/slurm.conf"; then
        die "$ETC/slurm.conf was not written by dltricks: refusing to replace this machine's SLURM config"
    fi
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc --all)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # MB, some left to the OS
    mkdir -p "$ETC" "$STATE/ctld" "$STATE/d"
    cat >"$ETC/slurm.conf" <<EOF
$MARK: a one-node cluster for dltricks' tests
ClusterName=dltricks
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=30
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$ETC/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"
}

# wait_for SECONDS WHAT COMMAND...: retry COMMAND until it succeeds
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq "$((seconds * 2))"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    die "$what did not come up in ${seconds}s: see the logs in $STATE"
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    running "$STATE/munged.pid" && return
    [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || create-munge-key -f; }
    chown munge:munge /etc/munge/munge.key
    mkdir -p /run/munge "$STATE/munge"
    chown munge:munge /run/munge "$STATE/munge"
    runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/munge/munged.log"
    wait_for 10 munged test -f "$STATE/munge/munged.pid"
    cp "$STATE/munge/munged.pid" "$STATE/munged.pid"
    wait_for 10 munge sh -c "munge -n | unmunge"
}

start_mariadb() {
    running "$STATE/mariadb.pid" && return
    if [ ! -d "$STATE/mysql/mysql" ]; then
        mariadb-install-db --user=root --datadir="$STATE/mysql" --auth-root-authentication-method=normal \
            >"$STATE/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: see $STATE/mariadb-install.log"
    fi
    mariadbd --user=root --datadir="$STATE/mysql" --socket="$STATE/mysql.sock" \
        --pid-file="$STATE/mariadb.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --log-error="$STATE/mariadb.log" --skip-name-resolve >/dev/null 2>&1 &
    wait_for 30 MariaDB mariadb --protocol=tcp -h 127.0.0.1 -P "$DB_PORT" -u root -e "select 1"
}

start_slurm() {
    running "$STATE/slurmdbd.pid" || slurmdbd
    wait_for 30 slurmdbd sacctmgr -i list cluster
    sacctmgr -i list cluster -n -P format=cluster | grep -qx dltricks \
        || sacctmgr -i add cluster dltricks >/dev/null
    running "$STATE/slurmctld.pid" || slurmctld
    wait_for 30 slurmctld scontrol ping
    running "$STATE/slurmd.pid" || slurmd
    wait_for 60 "the node" sh -c "sinfo -h -p local -o %t | grep -Eq '^(idle|mix|alloc)'"
}

up() {
    need_root
    mkdir -p "$STATE"
    install_packages
    write_config
    start_munge
    start_mariadb
    start_slurm
    echo "slurm: up: partition local, $(sinfo -h -p local -o '%c CPUs, %m MB') on $(hostname -s); sacct works; make slurm-down stops it"
}

stop() {  # stop PIDFILE: TERM, then KILL after 10 s
    local pidfile=$1 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

down() {
    need_root
    [ -d "$STATE" ] || { echo "slurm: not running (no $STATE)"; return 0; }
    scancel --full --quiet -u root 2>/dev/null || true  # no job left behind
    for _ in $(seq 30); do  # a cancelled job has a moment to save its checkpoint
        [ -z "$(squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ] && break
        sleep 0.5
    done
    stop "$STATE/slurmd.pid"
    stop "$STATE/slurmctld.pid"
    stop "$STATE/slurmdbd.pid"
    stop "$STATE/mariadb.pid"
    stop "$STATE/munged.pid"
    pkill -KILL -x slurmstepd 2>/dev/null || true  # a step whose slurmd went first
    rm -rf "$STATE"
    for f in slurm.conf slurmdbd.conf; do
        if [ -f "$ETC/$f" ] && grep -qF "$MARK" "$ETC/$f"; then rm -f "$ETC/$f"; fi
    done
    echo "slurm: down: nothing left running"
}

status() {
    for d in munged mariadb slurmdbd slurmctld slurmd; do
        if running "$STATE/$d.pid"; then echo "$d: running"; else echo "$d: stopped"; fi
    done
    sinfo 2>/dev/null || true
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) die "usage: cluster/slurm.sh up|down|status" ;;
esac
