if [ -e "$HARNESS_SHARED/flaky-failed-once" ]; then exit 0; fi; touch "$HARNESS_SHARED/flaky-failed-once"; echo 'canary: failing on the first try'; exit 1
