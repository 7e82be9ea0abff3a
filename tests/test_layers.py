"""The stages import downwards only: a call never goes back up the pipeline (docs/architecture.md, "The values between
the stages"). Read from the code itself: every `import harness...` of every module, placed by its layer."""
import ast

from tests.helpers import REPO_ROOT

# lowest first; a module is in the layer of its longest matching prefix
LAYERS = (
    ("foundation", ("harness.errors", "harness.data", "harness.cache", "harness.proc", "harness.host")),
    ("parse", ("harness.parse",)),
    ("values", ("harness.crashes", "harness.suites", "harness.settings", "harness.results", "harness.expectations",
                "harness.night_summary", "harness.history")),
    ("kernel and payload", ("harness.kernel", "harness.payload")),
    ("guest", ("harness.guest",)),
    ("run", ("harness.run",)),
    ("report", ("harness.report",)),
    ("pipeline", ("harness.pipeline",)),
    ("front ends", ("harness.nightly", "harness.bisect", "harness.pytest_plugin", "harness.cli", "harness.command",
                    "harness.__main__", "harness.host.prefetch", "harness.host.setup")),
)


def layer(module: str) -> int | None:
    found = [(len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
             if module == p or module.startswith(p + ".")]
    return max(found)[1] if found else None


def imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}  # `from harness import x`
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("harness")}
    return names


def upward(module: str, source: str) -> list[str]:
    """What `module` imports from a layer above its own."""
    me = layer(module)
    assert me is not None, f"{module} is in no layer: place it in LAYERS"
    return [f"{module} ({LAYERS[me][0]}) imports {name} ({LAYERS[them][0]})" for name in sorted(imports(source))
            if (them := layer(name)) is not None and them > me]


def test_every_stage_imports_only_its_own_layer_or_those_below() -> None:
    found = []
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module != "harness":
            found += upward(module, path.read_text())
    assert found == []


def test_the_check_finds_the_imports_that_went_up_before() -> None:
    """Two of 5b04384's: the guest stage reached into planning, a report into a front end."""
    assert upward("harness.guest.commands", "from harness.run.plan import Batch, progs_argv\n") == [
        "harness.guest.commands (guest) imports harness.run.plan (run)",
        "harness.guest.commands (guest) imports harness.run.plan.Batch (run)",
        "harness.guest.commands (guest) imports harness.run.plan.progs_argv (run)"]
    assert upward("harness.report.kcidb", "from harness.nightly.summary import ModeNight, Summary\n")
