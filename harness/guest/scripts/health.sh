#!/bin/sh
# What a warm guest must show before it is reused (harness.warm): one line per fact, each 0 when healthy.
# Shell built-ins only: every program run costs a read over 9p under TCG, and a warm run waits for this.
read -r tainted < /proc/sys/kernel/tainted
echo "tainted=$tainted"
set -- /run/netns/*
[ -e "$1" ] || shift $#
echo "netns=$#"
mounts=0
while read -r source _; do
	[ "$source" != harness-netns ] || mounts=$((mounts + 1))  # isolated.sh's tmpfs
done < /proc/mounts
echo "mounts=$mounts"
procs=0
for comm in /proc/[0-9]*/comm; do
	{ read -r name < "$comm"; } 2>/dev/null && [ "$name" = test_progs ] && procs=$((procs + 1))  # (one may exit meanwhile)
done
echo "procs=$procs"
