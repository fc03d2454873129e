#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests marked `slurm` (and for trying
# launcher=slurm without a real cluster):
#   tests/slurm/local_cluster.sh start    install munge + slurm-wlm from Debian when missing,
#                                         write slurm.conf, start munged, slurmctld, slurmd
#   tests/slurm/local_cluster.sh stop     stop only the daemons that `start` started
#   tests/slurm/local_cluster.sh status   sinfo, or why there is no cluster
# Needs root on Debian (CI runs as root). There is no systemd, so the daemons are started
# directly; every address is loopback. Two partitions share the one node: `cpu` (the default)
# and `urgent`, whose jobs pre-empt cpu's by requeueing them, as on clusters with a scavenger
# partition. DefMemPerCPU makes a job without mem_gb ask for memory per CPU, as most sites do.
# Running `start` twice is harmless: it starts what is not running and rewrites nothing that
# is the same. The node also declares one GPU by count only (gres.conf points it at /dev/null), so
# that a sweep asking for hydra.launcher.gpus_per_node=1 passes sinfo's check and is submitted
# from this GPU-less machine; a job that then really needs CUDA fails on the node, and is
# recorded so.
set -euo pipefail

STATE=${TRANSFER_LAB_SLURM_DIR:-/var/tmp/transfer_lab_slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by transfer_lab tests/slurm/local_cluster.sh"
MUNGE_SOCKET=/run/munge/munge.socket.2

say() { echo "local_cluster: $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing munge and slurm-wlm from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client >/dev/null
}

write_conf() {
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
    if [[ -e $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
        say "$CONF exists and was not written by this script; refusing to replace a real" \
            "cluster's configuration."
        exit 1
    fi
    mkdir -p "$STATE"/{ctld,d,log} /etc/slurm
    local new="$STATE/slurm.conf.new"
    cat >"$new" <<CONF
$MARK
ClusterName=transfer-lab-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
JobRequeue=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName=urgent Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
CONF
    if [[ -e $CONF ]] && cmp -s "$new" "$CONF"; then
        rm "$new"
    else
        mv "$new" "$CONF"
    fi
    if [[ -e /etc/slurm/gres.conf ]] && ! grep -qF "$MARK" /etc/slurm/gres.conf; then
        say "/etc/slurm/gres.conf exists and was not written by this script; refusing."
        exit 1
    fi
    printf '%s\nNodeName=localhost Name=gpu File=/dev/null\n' "$MARK" >/etc/slurm/gres.conf
}

running() {  # running PIDFILE: the pid in PIDFILE is alive
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_munge() {
    if [[ -S $MUNGE_SOCKET ]] && munge -n </dev/null | unmunge >/dev/null 2>&1; then
        return  # already running, ours or not
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    # munged writes its pid file as the munge user; the copy in $STATE records that we started it
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$STATE/munged.pid"
}

start_daemon() {  # start_daemon NAME ARGS...: start it unless its pid file names a live process
    local name=$1
    shift
    if running "$STATE/$name.pid"; then
        return
    fi
    "/usr/sbin/$name" "$@"
    for _ in $(seq 50); do running "$STATE/$name.pid" && return; sleep 0.1; done
    say "$name did not start; see $STATE/log/$name.log"
    tail -n 20 "$STATE/log/$name.log" >&2 || true
    exit 1
}

wait_idle() {  # until the node takes jobs
    for _ in $(seq 100); do
        if sinfo -h -n localhost -o %t 2>/dev/null | grep -qxE '(idle|mix|alloc)'; then
            return
        fi
        scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        sleep 0.2
    done
    say "the node did not come up:"
    sinfo -N >&2 || true
    exit 1
}

start() {
    install_packages
    write_conf
    start_munge
    start_daemon slurmctld
    start_daemon slurmd -N localhost
    wait_idle
    sinfo
}

stop_pidfile() {  # stop_pidfile NAME: end the process our pid file names, and wait for it
    local file="$STATE/$1.pid" pid
    running "$file" || { rm -f "$file"; return 0; }
    pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$file"
}

stop() {
    # jobs first, so that none is left running without its daemons
    if running "$STATE/slurmctld.pid"; then
        scancel --full --quiet --partition=cpu,urgent 2>/dev/null || true
    fi
    stop_pidfile slurmd
    stop_pidfile slurmctld
    stop_pidfile munged  # only there when start started munged
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) sinfo ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
