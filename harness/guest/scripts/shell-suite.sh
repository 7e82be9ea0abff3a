#!/bin/sh
# Runs a suite of shell commands (runner "shell": the harness's own canary) and prints each result
# the way test_progs does ("#1/N test/name:OK"), so that one parser reads both; each result is
# marked in the kernel log before it is printed (harness.markers).
#   $1: batch index  $2: the suite's test name  $3: directory of the commands, one <subtest>.sh each
#   the rest: the subtests to run, in order
#   exit status of a command: 0 pass, 4 skip, anything else a failure
#   $HARNESS_PCAP_DIR (--pcap): a subtest with a <subtest>.capture file (the suite file's [capture]) has that command
#   run beside it in $HARNESS_PCAP_DIR/<subtest>, from before it starts (its first file there, up to 5 s) to after
#   it ends (SIGTERM: tcpdump writes what it has and exits; the file starts with exec, the command gets the signal);
#   the host keeps or deletes its *.pcap
index=$1 test=$2 commands=$3
shift 3
n=0 ok=0 skip=0 fail=0
capturing=
start_capture() {
	capturing=
	[ -n "${HARNESS_PCAP_DIR:-}" ] && [ -e "$commands/$1.capture" ] || return 0
	out=$HARNESS_PCAP_DIR/$1
	mkdir -p "$out" && chmod 1777 "$out" || return 0  # tcpdump writes as its own user once it has the device
	(cd "$out" && exec sh "$commands/$1.capture" < /dev/null) &
	capturing=$!
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do  # its file: it captures
		[ -z "$(ls -A "$out")" ] || return 0
		sleep 0.2
	done
	echo "harness: --pcap: nothing in $out 5 s after its capture started: $1 runs regardless"
}
stop_capture() {
	[ -n "$capturing" ] || return 0
	kill -TERM "$capturing" 2>/dev/null
	wait "$capturing" 2>/dev/null
}
for sub in "$@"; do
	start_capture "$sub"
	sh "$commands/$sub.sh"
	rc=$?
	stop_capture
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
