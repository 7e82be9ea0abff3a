"""harness.run.watch: each result's duration as the next run's plan weighs it, on a real batch log written as it came."""
from pathlib import Path

from harness.data import SUITES_DIR
from harness.run.plan import Batch
from harness.run.watch import Watch
from harness.suites import load_suite

LOG = Path(__file__).parent / "data" / "test_progs" / "verbose-base-mptcpify-6.12.log"


def test_the_first_subtest_is_timed_from_test_progs_first_output_not_from_the_batchs_start(tmp_path):
    """test_progs' start-up (its bpf_testmod lines: 2-3 s under TCG) is not base's: it would weigh base by it
    in the next plan, and move base from batch to batch between runs (issue 18's runs D and E)."""
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    batch = Batch(0, ("base", "mptcpify"))
    watch = Watch(suite, [batch], tmp_path, tmp_path / "console.log", progress=None, deadline=None)
    text = LOG.read_text()
    startup = text[:text.index("test_base:")]
    assert "Loading bpf_testmod.ko" in startup and "test_base" not in startup
    stages = [(10.0, ""), (12.5, startup), (14.0, text[:text.index("test_mptcpify:")]), (15.0, text)]
    for now, written in stages:  # the log as the guest wrote it: created empty, start-up lines, base, mptcpify
        batch.log(tmp_path).write_text(written)
        watch._read_batch(batch, now, final=False)
    assert watch.duration("mptcp/base") == 1.5  # from 12.5 (first output), not 10.0 (the log appeared)
    assert watch.duration("mptcp/mptcpify") == 1.0
