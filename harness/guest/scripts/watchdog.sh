#!/bin/sh
# Runs beside a kept guest, in its process group, on the host: stops it once its idle deadline
# has passed, even if no harness process ever comes back (and kills it if it does not power off).
#   $1: the guest's shared directory; the rest: the vng command line to run
#   $HARNESS_IDLE_UNTIL: file (in $1) holding the deadline, epoch seconds
#   $HARNESS_STOP: file (in $1) that tells the guest's agent to power off
W=$1
shift
"$@" &
guest=$!
while kill -0 "$guest" 2>/dev/null; do
	sleep 2
	if [ "$(date +%s)" -gt "$(cat "$W/$HARNESS_IDLE_UNTIL" 2>/dev/null || echo 0)" ]; then
		touch "$W/$HARNESS_STOP"
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$guest" 2>/dev/null || exit 0
			sleep 1
		done
		kill -KILL -- -$$
	fi
done
