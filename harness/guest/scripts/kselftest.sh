#!/bin/sh
# Runs scripts of one installed kselftest directory (runner "kselftest": net/mptcp), one after the other, each
# cut off at its timeout. Each script's own output (mptcp_lib.sh prints its sub-cases as TAP at the end) goes
# to the log as it comes, then a result line the way test_progs prints one ("#1/N net-mptcp/diag:OK"), so that
# one parser reads every runner; the result is marked in the kernel log first (harness.markers).
#   $1: batch index  $2: the suite's test name  $3: the installed directory  $4: seconds a script may run
#   the rest: the scripts to run, without .sh
#   a script's exit status: 0 pass, 4 skip (kselftest's KSFT_SKIP), 124/137 cut off by the timeout, else failed
#   $KSFT_MACHINE_SLOW: "yes" under TCG, as the upstream scripts expect on a slow machine
index=$1 test=$2 dir=$3 limit=$4
shift 4
cd "$dir" || exit 1
n=0 ok=0 skip=0 fail=0
for script in "$@"; do
	n=$((n + 1))
	if [ -e "./$script.sh" ]; then
		# its own process group, killed whole at the limit (timeout without --foreground)
		timeout --kill-after=10 "$limit" "./$script.sh" < /dev/null 2>&1
		rc=$?
	else
		rc=404  # an older or newer tree without this script
	fi
	case $rc in
	0) r=OK ok=$((ok + 1)) ;;
	4) r=SKIP skip=$((skip + 1)) ;;
	124 | 137) r="TIMEOUT (cut off after $limit s)" fail=$((fail + 1)) ;;
	404) r="SKIP (not in this build)" skip=$((skip + 1)) ;;
	*) r="FAIL (exit $rc)" fail=$((fail + 1)) ;;
	esac
	echo "<4>harness: batch $index done #1/$n $test/$script:$r" > "$HARNESS_KMSG"
	echo  # a script cut off mid-line: its result on a line of its own
	echo "#1/$n $test/$script:$r"
done
if [ $fail -eq 0 ]; then echo "#1 $test:OK"; else echo "#1 $test:FAIL"; fi
echo "Summary: 1/$ok PASSED, $skip SKIPPED, 0/$fail FAILED"
[ $fail -eq 0 ]
