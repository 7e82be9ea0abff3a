"""Makes `pytest` at the top of the repo collect suites/*.toml as one item per subtest."""
pytest_plugins = ["harness.pytest_plugin"]
