#!/bin/sh
# Runs a command isolated from every other isolated one (batch.sh, when batches run side by side): its own mount and
# network namespaces, a private tmpfs on /run/netns, lo up, and its own scratch directory as TMPDIR.
# test_progs' MPTCP subtests all create the netns "mptcp_ns" (/run/netns/mptcp_ns): two copies at
# once collide ("File exists"; measured: 3 of 4 concurrent copies fail), isolated they all pass.
#   $1: the scratch directory; the rest: the command
scratch=$1
shift
mkdir -p "$scratch" || exit 1
TMPDIR=$scratch
export TMPDIR
# shellcheck disable=SC2016 # expanded by the inner shell, in the new namespaces
exec unshare --mount --propagation private --net -- \
	sh -c 'mkdir -p /run/netns && mount -t tmpfs harness-netns /run/netns && ip link set lo up && exec "$@"' isolated "$@"
