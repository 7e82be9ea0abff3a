#!/bin/sh
# --pcap for test_progs: its traffic monitor (-m) writes a pcap per network namespace a subtest makes into
# /tmp/tmon_pcap (network_helpers.c's PCAP_DIR, not configurable). This runs the command with that directory
# bound to $1, in a mount namespace of its own: the pcaps are written straight to the shared directory (a guest
# that dies leaves them to the host), and batches side by side never mix theirs.
#   $1: where the pcaps go; the rest: the command (./test_progs ... -m TEST)
out=$1
shift
mkdir -p "$out" /tmp/tmon_pcap || exit 1
# shellcheck disable=SC2016 # expanded by the inner shell, in the new namespace
exec unshare --mount --propagation private -- \
	sh -c 'mount --bind "$0" /tmp/tmon_pcap && exec "$@"' "$out" "$@"
