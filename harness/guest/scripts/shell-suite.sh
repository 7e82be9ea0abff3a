#!/bin/sh
# Runs a suite of shell commands (runner "shell": the harness's own canary) and prints each result
# the way test_progs does ("#1/N test/name:OK"), so that one parser reads both; each result is
# marked in the kernel log before it is printed (harness.markers).
#   $1: batch index  $2: the suite's test name  $3: directory of the commands, one <subtest>.sh each
#   the rest: the subtests to run, in order
#   exit status of a command: 0 pass, 4 skip, anything else a failure
index=$1 test=$2 commands=$3
shift 3
n=0 ok=0 skip=0 fail=0
for sub in "$@"; do
	sh "$commands/$sub.sh"
	rc=$?
	n=$((n + 1))
	if [ $rc -eq 0 ]; then
		r=OK ok=$((ok + 1))
	elif [ $rc -eq 4 ]; then
		r=SKIP skip=$((skip + 1))
	else
		r=FAIL fail=$((fail + 1))
	fi
	echo "<4>harness: batch $index done #1/$n $test/$sub:$r" > "$HARNESS_KMSG"
	echo "#1/$n $test/$sub:$r"
done
if [ $fail -eq 0 ]; then echo "#1 $test:OK"; else echo "#1 $test:FAIL"; fi
echo "Summary: 1/$ok PASSED, $skip SKIPPED, 0/$fail FAILED"
[ $fail -eq 0 ]
