#!/bin/sh
# --coverage (a kernel with CONFIG_GCOV_KERNEL): after a round, the gcov counters of net/mptcp's objects are
# copied for the host's lcov (harness/report/coverage.py), then zeroed, so that the next copy from this guest (a
# persistent guest's next item) holds only what ran since; the host adds the copies up.
#   $1: where to copy them (the round's directory, on the host's shared 9p)
out=$1
gcov=/sys/kernel/debug/gcov
[ -e "$gcov/reset" ] || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
[ -e "$gcov/reset" ] || { echo "harness: no $gcov: not a gcov kernel" >&2; exit 0; }
mkdir -p "$out"
# gcov's tree mirrors the build directory's absolute path: net/mptcp's counters, wherever that is
find "$gcov" -path '*/net/mptcp/*.gcda' -exec cp {} "$out/" \;
echo 1 > "$gcov/reset"
