#!/bin/sh
# Runs KUnit suites (runner "kunit": net/mptcp's), one after the other. Loading a suite's module runs it
# (kunit.autorun), and debugfs keeps what it printed as KTAP: /sys/kernel/debug/kunit/<suite>/results. Its
# test cases (one level in there) go to the log one level up, as a kselftest script's TAP does, then a result
# line the way test_progs prints one ("#1/N kunit-mptcp/mptcp-crypto:OK"): one parser reads every runner.
# A suite built in ran at boot: its results are read all the same.
#   $1: batch index  $2: the suite's test name  the rest: suite=module pairs ("mptcp-crypto=mptcp_crypto_test")
index=$1 test=$2
shift 2
n=0 ok=0 skip=0 fail=0
# kunit.ko enabled and running suites as their modules load, whatever the build's defaults (allnoconfig turns
# KUNIT_DEFAULT_ENABLED and KUNIT_AUTORUN_ENABLED off); built in, modprobe fails and nothing is lost
modprobe kunit enable=1 autorun=1 2>/dev/null
for pair in "$@"; do
	n=$((n + 1))
	suite=${pair%%=*} module=${pair#*=}
	results=/sys/kernel/debug/kunit/$suite/results
	loadable=0
	if modinfo "$module" > /dev/null 2>&1; then
		loadable=1
		rmmod "$module" 2> /dev/null  # left loaded by a run before this one: loaded again, it runs again
		modprobe "$module" 2>&1 || echo "harness: modprobe $module failed (exit $?)"
	fi
	if [ -r "$results" ]; then
		# the outer layer off (its "KTAP version 1", "1..1" and the suite's own result line), the rest one level up
		sed -e '1,2d' -e '$d' -e 's/^    //' "$results"
		case $(tail -n 1 "$results") in
		"not ok"*) r=FAIL fail=$((fail + 1)) ;;
		*"# SKIP"*) r=SKIP skip=$((skip + 1)) ;;
		ok*) r=OK ok=$((ok + 1)) ;;
		*) r="FAIL (its results end unfinished)" fail=$((fail + 1)) ;;
		esac
		[ $loadable -eq 0 ] || rmmod "$module" 2> /dev/null
	elif [ $loadable -eq 0 ]; then
		r="SKIP (not in this build)" skip=$((skip + 1))  # neither a module nor built in
	else
		r="FAIL (no $results after loading $module)" fail=$((fail + 1))
	fi
	echo "<4>harness: batch $index done #1/$n $test/$suite:$r" > "$HARNESS_KMSG"
	echo "#1/$n $test/$suite:$r"
done
if [ $fail -eq 0 ]; then echo "#1 $test:OK"; else echo "#1 $test:FAIL"; fi
echo "Summary: 1/$ok PASSED, $skip SKIPPED, 0/$fail FAILED"
[ $fail -eq 0 ]
