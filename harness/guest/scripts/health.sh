#!/bin/sh
# What a warm guest must show before it is reused (harness.warm): four facts, each 0 when healthy.
# Shell built-ins but one (busybox's cat: static and resident, ~0.03 s where the host's cat, with its libraries over
# 9p, took 0.12-0.2 s under TCG): every program run costs reads over 9p, and a warm run waits for this.
# (not `read`: dash reads a byte at a time, and an integer sysctl read at an offset past 0 is
# empty, so "512" would come back as "5")
# Read by the shell of a warm run's first job, one SSH session for both (harness.guest.pool):
#   HARNESS_HEALTH_OK=<file> . health.sh && . run.sh
# When every fact is 0 it creates <file> (the host waits for it a while, then gives up on the guest) and prints
# nothing; else it prints the facts, prefixed, and exits 86: the job does not run.
tainted=$(busybox cat /proc/sys/kernel/tainted 2>/dev/null || cat /proc/sys/kernel/tainted)
# Only the taints an earlier crash or warning leaves: M machine check (16), B bad page (32), D oops (128),
# W warning (512), L soft lockup (16384). Not O (4096): bpf_testmod.ko, built with test_progs for a tree's kernel, is
# an out-of-tree module and taints every guest that ran the BPF suite; nor E, N (KUnit) and the like.
tainted=$((tainted & 17072))
set -- /run/netns/*
[ -e "$1" ] || shift $#
netns=$#
mounts=0
while read -r source _; do
	[ "$source" != harness-netns ] || mounts=$((mounts + 1))  # isolated.sh's tmpfs
done < /proc/mounts
procs=0
for comm in /proc/[0-9]*/comm; do
	{ read -r name < "$comm"; } 2>/dev/null && [ "$name" = test_progs ] && procs=$((procs + 1))  # (one may exit meanwhile)
done
facts="tainted=$tainted netns=$netns mounts=$mounts procs=$procs"
if [ "$facts" = "tainted=0 netns=0 mounts=0 procs=0" ]; then
	: > "$HARNESS_HEALTH_OK"
else
	# shellcheck disable=SC2086 # $facts is split into its words on purpose: a line each
	printf 'harness-health: %s\n' $facts
	exit 86
fi
