# written by harness.guest.commands; run by sh inside the guest
export HARNESS_KMSG=/dev/kmsg
export HARNESS_RESULT_LINE='^#[0-9]+/[0-9]+[ 	]+[^ 	].*:(OK|FAIL|SKIP)'
export HARNESS_SHARED=/tmp/dnights/2026-11-26-default-2/prebuilt/logs/canary
export HARNESS_MARKS_ITSELF=1
sh /work/main/harness/guest/scripts/batch.sh 0 /tmp/dnights/2026-11-26-default-2/prebuilt/logs/canary/round-1/batch-0.log /tmp/dnights/2026-11-26-default-2/prebuilt/logs/canary/round-1/batch-0.rc - sh /work/main/harness/guest/scripts/shell-suite.sh 0 canary /tmp/dnights/2026-11-26-default-2/prebuilt/logs/canary/round-1/commands pass crash flaky &
wait
sync
