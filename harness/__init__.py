"""Run the Linux kernel's MPTCP BPF selftests (test_progs -t mptcp) in vng guests."""
