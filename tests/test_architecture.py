"""The dependency rules of docs/architecture.md, checked on every test run.

The rules themselves are import-linter contracts in pyproject.toml; this runs
`lint-imports` on them as a developer would, so a broken contract fails
`make test`. On top of them: no import cycle anywhere in the project.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CYCLE_FREE = ("app", "sandbox", "twiml", "dialer", "bench")


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "lint-imports"
    if not command.exists():
        command = shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is missing: install the test extras (pip install -e '.[test]')")
    # This checkout's packages, not whichever copy the environment has installed.
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [str(command), "--no-cache", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_import_contracts_are_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails(tmp_path):
    # The same tool on a contract this code breaks (rest.py imports network.py):
    # proves a broken contract turns into a failure, not a quiet pass.
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["sandbox"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "rest imports nothing from network"\ntype = "forbidden"\n'
        'source_modules = ["sandbox.rest"]\nforbidden_modules = ["sandbox.network"]\n'
    )
    result = lint_imports("--config", str(config))
    assert result.returncode != 0
    assert "1 broken" in result.stdout


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[tuple[str, ...]]:
    """One cycle (as its chain of modules) for each direct import that some chain leads back from."""
    modules = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    cycles = []
    for importer in sorted(modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & modules):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append((importer, *back))
    return cycles


@pytest.mark.parametrize("package", CYCLE_FREE)
def test_no_import_cycles(package):
    # TYPE_CHECKING imports count: a cycle hidden from the interpreter is still
    # two modules that cannot be understood or changed apart.
    graph = grimp.build_graph(package, cache_dir=None)
    assert import_cycles(graph, package) == []


def test_the_cycle_check_sees_cycles():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert ("pkg.a", "pkg.b", "pkg.c", "pkg.a") in import_cycles(graph, "pkg")
