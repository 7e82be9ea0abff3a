"""Planning and running rounds of guests, no verdicts: plan (batches, longest first), scheduler (rounds, blame,
retries), watch (a guest's output as it comes), durations, shard, select (-k outside pytest)."""
