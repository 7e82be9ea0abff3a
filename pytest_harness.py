"""pytest's entry point for the harness (pyproject.toml, pytest11): it names harness.pytest_plugin, the plugin itself.

Why a module of its own, outside the package: pytest rewrites the asserts of every module in the
top-level package of an entry point's module, for the whole session. Were the entry point
harness.pytest_plugin, all of `harness` (~45 modules) would be parsed and compiled again at each
pytest start wherever its rewritten bytecode cannot be kept (PYTHONDONTWRITEBYTECODE, as in CI
images and here): ~0.25 s of every run (bench/parallel.py's P2). Named here, pytest rewrites this
module and harness.pytest_plugin only; the harness's library keeps its ordinary bytecode.
(From the repository's root `python -m pytest` also finds pip's mptcp_harness.egg-info there, which
lists the whole package: ./run removes it after installing. tests/test_cli_paths.py checks both.)
"""
pytest_plugins = ["harness.pytest_plugin"]
