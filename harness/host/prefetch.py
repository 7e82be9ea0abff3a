"""Fetch the default kernel and its source into the cache while the set-up installs host packages (./run).

Standard library only (it runs before the venv exists). Best effort: whatever fails here is
said in one line and done again by the run itself, which finds in the cache what this got.
"""
from __future__ import annotations

import sys
import time

from harness.errors import BadInput, Exit, InfraError
from harness.kernel import debian
from harness.settings import default_cache_dir


def main() -> int:
    start = time.monotonic()
    spec = debian.spec_for(None)
    debs = default_cache_dir() / "debs"
    before = set(debs.glob("*.deb")) if debs.is_dir() else set()
    try:
        # no depmod: kmod may come with this very apt, and here it would hold up the test_progs build, which
        # needs the source unpacked last (the run does it beside that build)
        debian.fetch(spec, default_cache_dir(), index_modules=False)
    except (BadInput, InfraError, OSError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"set-up: fetching {spec.identity} beside the host packages did not finish ({first}); the run fetches it",
              file=sys.stderr)
        return Exit.PASSED
    if set(debs.glob("*.deb")) != before:  # said only when it fetched something
        print(f"set-up: fetched {spec.identity} and its source beside apt ({time.monotonic() - start:.0f} s)")
    return Exit.PASSED


if __name__ == "__main__":
    sys.exit(main())
