"""The nightly job: night.py fetches, builds each mode and runs the suites; summary.py compares with the night before."""
