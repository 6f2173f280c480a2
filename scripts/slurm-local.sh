#!/usr/bin/env bash
# scripts/slurm-local.sh start|stop|status: a one-node Slurm on this machine, for testing
# `bench run --launcher slurm` (make slurm-test). Needs root.
#
# start: installs Debian's slurm-wlm and munge when missing (apt-get), writes a slurm.conf for this host
# (CPUs from nproc, RealMemory from /proc/meminfo) into a fresh temporary directory that also holds the
# controller's state, the spool and the logs, starts munged, slurmctld and slurmd with pid files there,
# and waits until sinfo shows the node idle. The directory is recorded in the state file
# ${SLURM_LOCAL_STATE:-/tmp/bench-slurm-local.state}; /etc/slurm/slurm.conf is linked to its slurm.conf
# when there is none (otherwise export SLURM_CONF=<dir>/slurm.conf, as start prints).
# stop: kills the three daemons by their pid files and removes the link; the directory (logs) is kept.
set -euo pipefail

STATE_FILE=${SLURM_LOCAL_STATE:-/tmp/bench-slurm-local.state}
ETC_CONF=/etc/slurm/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }
say() { echo "slurm-local: $*" >&2; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (apt-get, daemons as SlurmUser=root)"; }

install_missing() {
	local missing=()
	command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || missing+=(slurm-wlm)
	command -v munged >/dev/null || missing+=(munge)
	if ((${#missing[@]})); then
		say "installing ${missing[*]} (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
			{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; } ||
			die "apt-get install ${missing[*]} failed"
	fi
	[[ -s /etc/munge/munge.key ]] || { say "creating /etc/munge/munge.key"; mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
	need_root
	if [[ -f $STATE_FILE ]]; then
		local old; old=$(cat "$STATE_FILE")
		if alive "$old/slurmctld.pid" || alive "$old/slurmd.pid"; then
			die "already running (state in $old); run '$0 stop' first"
		fi
	fi
	install_missing
	local dir host cpus mem
	dir=$(mktemp -d /tmp/bench-slurm.XXXXXX)
	chmod 0755 "$dir"
	echo "$dir" >"$STATE_FILE"
	host=$(hostname -s)
	cpus=$(nproc)
	mem=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
	mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
	chown munge:munge "$dir/munge"
	cat >"$dir/slurm.conf" <<EOF
# written by scripts/slurm-local.sh for a one-node test cluster on $host
ClusterName=benchlocal
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=${SLURM_LOCAL_PORT:-6817}
SlurmdPort=$(( ${SLURM_LOCAL_PORT:-6817} + 1 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
	export SLURM_CONF=$dir/slurm.conf
	if [[ ! -e $ETC_CONF || ( -L $ETC_CONF && $(readlink "$ETC_CONF") == /tmp/bench-slurm.* ) ]]; then
		mkdir -p /etc/slurm && ln -sfn "$dir/slurm.conf" "$ETC_CONF" && echo "$ETC_CONF" >"$dir/linked"
	fi
	mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
	if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
		runuser -u munge -- munged --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
			--seed-file="$dir/munge/munged.seed" || die "munged did not start (see $dir/munge/munged.log)"
		cp "$dir/munge/munged.pid" "$dir/munged.pid"
	fi
	slurmctld -f "$dir/slurm.conf" || die "slurmctld did not start (see $dir/slurmctld.log)"
	slurmd -f "$dir/slurm.conf" || die "slurmd did not start (see $dir/slurmd.log)"
	local i state=""
	for i in $(seq 1 60); do
		state=$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null | head -1 || true)
		[[ $state == idle ]] && break
		sleep 1
	done
	[[ $state == idle ]] || die "node $host is '${state:-not reported}' after 60 s (logs in $dir)"
	say "up: node $host idle, $cpus CPUs, ${mem} MB; conf, state and logs in $dir"
	[[ -f $dir/linked ]] || say "$ETC_CONF is not ours: export SLURM_CONF=$dir/slurm.conf"
}

stop() {
	[[ -f $STATE_FILE ]] || { say "not running (no $STATE_FILE)"; return 0; }
	local dir name pid i
	dir=$(cat "$STATE_FILE")
	for name in slurmd slurmctld munged; do
		[[ -f $dir/$name.pid ]] || continue
		pid=$(cat "$dir/$name.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
			kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		fi
		rm -f "$dir/$name.pid"
	done
	if [[ -f $dir/linked && -L $ETC_CONF && $(readlink "$ETC_CONF") == "$dir/slurm.conf" ]]; then
		rm -f "$ETC_CONF"
	fi
	rm -f "$STATE_FILE"
	say "stopped (logs kept in $dir)"
}

status() {
	[[ -f $STATE_FILE ]] || { echo "not running"; return 1; }
	local dir; dir=$(cat "$STATE_FILE")
	for name in munged slurmctld slurmd; do
		if alive "$dir/$name.pid"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: not running"; fi
	done
	SLURM_CONF=$dir/slurm.conf sinfo || true
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
