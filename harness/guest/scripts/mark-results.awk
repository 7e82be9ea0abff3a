# Passes test_progs' output through unchanged; each subtest result line (matching `pattern`, the
# grammar of harness.parse.test_progs) is also written into the kernel log, marked with its batch
# (harness.markers). /dev/kmsg is opened for each line: its rate limit counts per open file.
{ print; fflush() }
$0 ~ pattern {
	print "<4>harness: batch " batch " done " $0 > kmsg
	close(kmsg)
}
