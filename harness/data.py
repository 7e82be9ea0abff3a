"""Where the harness's data lives: suites/, images/, kernel-configs/ and expectations/ (standard library only).

In a checkout, and in its editable install (`./run`'s .venv), they sit beside the package. An
installed copy (`pipx install` or `pip install` of a clone, pyproject.toml's data-files) has them
under <prefix>/share/mptcp-harness, where pip put them: the installed command reads no checkout.
"""
from __future__ import annotations

import site
import sys
from pathlib import Path

SHARE = Path("share") / "mptcp-harness"


def data_root() -> Path:
    """The directory holding suites/, images/, kernel-configs/ and expectations/."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "suites").is_dir():
        return checkout
    for prefix in (sys.prefix, site.getuserbase(), sys.base_prefix, "/usr/local", "/usr"):
        if (Path(prefix) / SHARE / "suites").is_dir():
            return Path(prefix) / SHARE
    return checkout  # none found: the first file read names what is missing


DATA_ROOT = data_root()
IMAGES_DIR = DATA_ROOT / "images"
SUITES_DIR = DATA_ROOT / "suites"
KERNEL_CONFIGS_DIR = DATA_ROOT / "kernel-configs"
EXPECTATIONS_DIR = DATA_ROOT / "expectations"
