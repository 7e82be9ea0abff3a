#!/bin/sh
# What a warm guest must show before it is reused (harness.warm): one line per fact, each 0 when healthy.
echo "tainted=$(cat /proc/sys/kernel/tainted)"
echo "netns=$(ip netns list | wc -l)"
echo "mounts=$(grep -c harness-netns /proc/mounts)"
echo "procs=$(pgrep -c test_progs)"
