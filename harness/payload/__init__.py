"""What runs in the guest, built for the kernel: test_progs (selftests_bpf.py, from tools/testing/selftests/bpf)
and the net/mptcp kselftests (kselftests.py)."""
