#!/bin/bash
# Runs inside a vng guest (booted with --verbose: the serial console goes to the host).
# Prints `test_progs -t mptcp` the way the MPTCP CI's console shows it: a TAP header, test_progs'
# output behind the "# " of the kernel's own tools/testing/selftests/kselftest/prefix.pl, the
# wrapper's result line and "# time=N"; written to the serial console, where the kernel's messages
# (console loglevel 8) land among the lines.
#   $1: the directory test_progs runs from    $2: the kernel source (for prefix.pl)
set -u
cd "$1" || exit 1
dmesg -n 8
{
	echo "TAP version 13"
	echo "1..1"
	start=$(date +%s)
	./test_progs -t mptcp 2>&1 | perl "$2/tools/testing/selftests/kselftest/prefix.pl"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		echo "ok 1 test: bpftest_test_progs_mptcp"
	else
		echo "not ok 1 test: bpftest_test_progs_mptcp # exit=$rc"
	fi
	echo "# time=$(($(date +%s) - start))"
} > /dev/console 2>&1
