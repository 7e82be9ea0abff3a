#!/bin/sh
# Runs scripts of one installed kselftest directory (runner "kselftest": net/mptcp), one after the other, each
# cut off at its timeout. Each script's own output (mptcp_lib.sh prints its sub-cases as TAP at the end) goes
# to the log as it comes, then a result line the way test_progs prints one ("#1/N net-mptcp/diag:OK"), so that
# one parser reads every runner; the result is marked in the kernel log first (harness.markers).
#   $1: batch index  $2: the suite's test name  $3: the installed directory  $4: seconds a script may run
#   the rest: the scripts to run, without .sh; "script:ARGS" runs it with ARGS (the suite file's [args], and with
#   --pcap its capture option)
#   $HARNESS_PCAP_DIR (--pcap): a script with ARGS runs in a directory of its own there (links to the installed files,
#   so that ./mptcp_connect and ../lib.sh are found), where its pcaps stay for the host to keep or delete
#   a script's exit status: 0 pass, 4 skip (kselftest's KSFT_SKIP), 124/137 cut off by the timeout, else failed
#   $KSFT_MACHINE_SLOW: "yes" under TCG, as the upstream scripts expect on a slow machine
index=$1 test=$2 dir=$3 limit=$4
shift 4
cd "$dir" || exit 1
n=0 ok=0 skip=0 fail=0
# a directory of links to the installed files (and to their parent's: mptcp_lib.sh reads ../lib.sh) for $1's pcaps
capture_dir() {
	top=$HARNESS_PCAP_DIR/$1/tree
	mkdir -p "$top/${dir##*/}" || return 1
	for f in "$dir"/../*; do [ "${f##*/}" = "${dir##*/}" ] || ln -sf "$f" "$top/"; done
	for f in "$dir"/*; do ln -sf "$f" "$top/${dir##*/}/"; done
	chmod 1777 "$top/${dir##*/}"  # tcpdump writes as its own user once it has the device
	[ -e "$top/${dir##*/}/$1.sh" ] || { echo "harness: --pcap: no links in $top: $1 runs without capturing" >&2; return 1; }
	echo "$top/${dir##*/}"
}
for item in "$@"; do
	script=${item%%:*} args=
	[ "$item" = "$script" ] || args=${item#*:}
	n=$((n + 1))
	if [ ! -e "./$script.sh" ]; then
		rc=404  # an older or newer tree without this script
	elif [ -n "$args" ] && [ -n "${HARNESS_PCAP_DIR:-}" ] && here=$(capture_dir "$script"); then
		# shellcheck disable=SC2086 # the suite file's arguments, one word each
		(cd "$here" && exec timeout --kill-after=10 "$limit" "./$script.sh" $args < /dev/null 2>&1)
		rc=$?
		mv "$here"/*.pcap "$HARNESS_PCAP_DIR/$script/" 2>/dev/null
		rm -rf "$HARNESS_PCAP_DIR/$script/tree"
	else
		# its own process group, killed whole at the limit (timeout without --foreground)
		# shellcheck disable=SC2086 # the suite file's arguments, one word each
		timeout --kill-after=10 "$limit" "./$script.sh" $args < /dev/null 2>&1
		rc=$?
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
