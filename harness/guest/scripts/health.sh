#!/bin/sh
# What a warm guest must show before it is reused (harness.warm): one line per fact, each 0 when healthy.
# Shell built-ins but one (cat): every program run costs a read over 9p under TCG, and a warm run waits for this.
# (not `read`: dash reads a byte at a time, and an integer sysctl read at an offset past 0 is
# empty, so "512" would come back as "5")
echo "tainted=$(cat /proc/sys/kernel/tainted)"
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
