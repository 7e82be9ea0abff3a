#!/bin/sh
# One batch of subtests in the guest (harness.scheduler): its start and end marked in the kernel
# log (harness.markers), isolated when other batches run beside it, its output into its log and
# its exit status into its status file.
#   $1: batch index  $2: log file  $3: status file  $4: scratch directory, or - (alone: no isolation)
#   the rest: the command (test_progs ..., or shell-suite.sh ...)
#   $HARNESS_RESULT_LINE: the pattern of a subtest result line (marked as it passes)
#   $HARNESS_MARKS_ITSELF: 1 when the command marks its results itself (shell-suite.sh)
#   $HARNESS_KMSG: where markers go (/dev/kmsg)
#   $HARNESS_AWK: the awk command that marks them (harness.guest.commands.awk_command; default awk)
#   $HARNESS_STDBUF_PRELOAD: the library `stdbuf -oL` would preload, or empty (then stdbuf itself)
#   $HARNESS_SCRIPTS: this directory (run.sh reads this file in a subshell: $0 is not its path)
index=$1 log=$2 status=$3 scratch=$4
shift 4
here=${HARNESS_SCRIPTS:-${0%/*}}
[ "$scratch" = - ] || set -- "$here/isolated.sh" "$scratch" "$@"
leaks=/sys/kernel/debug/kmemleak
debugfs_mounted() {  # without a program: each one started is read over 9p
	for entry in /sys/kernel/debug/*; do [ -e "$entry" ] && return 0; done
	return 1
}
debugfs_mounted || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
if [ -w "$leaks" ]; then  # what leaked before this batch is not its doing
	echo scan=off > "$leaks"  # no automatic scan (every 10 min) on top of the harness's own: they queue
	echo scan > "$leaks"
	echo clear > "$leaks"
fi
echo "<4>harness: batch $index start" > "$HARNESS_KMSG"
if [ "${HARNESS_MARKS_ITSELF:-0}" = 1 ]; then
	"$@" > "$log" 2>&1
	echo $? > "$status"
else
	# the command's stdout line-buffered into the pipe (each result marked as it ends), as `stdbuf -oL` does:
	# its library preloaded straight into the command when the host named it, one program fewer to start
	line_buffered() {
		if [ -n "${HARNESS_STDBUF_PRELOAD:-}" ]; then
			LD_PRELOAD=${LD_PRELOAD:+$LD_PRELOAD:}$HARNESS_STDBUF_PRELOAD _STDBUF_O=L "$@"
		else
			stdbuf -oL "$@"
		fi
	}
	# $HARNESS_AWK reads lines as they come (the host chose it: busybox's, or mawk with -W interactive)
	# shellcheck disable=SC2086 # $HARNESS_AWK is a command and its options, split on purpose
	{ line_buffered "$@" 2>&1; echo $? > "$status"; } |
		${HARNESS_AWK:-awk} -v batch="$index" -v kmsg="$HARNESS_KMSG" -v pattern="$HARNESS_RESULT_LINE" \
			-f "$here/mark-results.awk" > "$log"
fi
# Debug kernels: what the batch leaked, found by two kmemleak scans a few seconds apart (as
# NIPA does), reported into the kernel log after a "scan" marker: it fails the batch's subtests
if [ -w "$leaks" ]; then
	echo "<4>harness: batch $index scan" > "$HARNESS_KMSG"
	echo scan > "$leaks"
	sleep "${HARNESS_KMEMLEAK_WAIT:-5}"
	echo scan > "$leaks"
	while IFS= read -r line; do echo "<4>$line" > "$HARNESS_KMSG"; done < "$leaks"  # "unreferenced object 0x..."
	echo clear > "$leaks"
fi
echo "<4>harness: batch $index end" > "$HARNESS_KMSG"
