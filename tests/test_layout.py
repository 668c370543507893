"""The layout, checked: the engine is plain Python, dependencies point one way, no import circles.

The import graph comes from grimp, which reads every import statement, including those
under ``if TYPE_CHECKING:``: a loop of vocabulary is a loop.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import runtime

ROOT = Path(__file__).resolve().parents[1]
#: What the engine must never need, even indirectly.
NOT_FOR_THE_ENGINE = ("django", "celery", "kombu", "rest_framework", "runtime.db", "salsaweb")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """The imports of the engine, the store and the web project, with the external packages they use."""
    return grimp.build_graph("runtime", "salsaweb", include_external_packages=True, cache_dir=None)


def engine_modules(graph: grimp.ImportGraph) -> set[str]:
    """``runtime`` and its modules, without the store's Django app ``runtime.db``."""
    return {m for m in graph.modules if m.split(".")[0] == "runtime" and not m.startswith("runtime.db")}


def circles(graph: grimp.ImportGraph, modules: set[str]) -> list[tuple[str, ...]]:
    """One chain per import ``a -> b`` among ``modules`` that ``b`` leads back from to ``a``."""
    found = []
    for a in sorted(modules):
        for b in sorted(graph.find_modules_directly_imported_by(a) & modules):
            back = graph.find_shortest_chain(importer=b, imported=a)
            if back:
                found.append((a, *back))
    return found


def test_importing_the_engine_and_computing_loads_no_django_celery_or_drf() -> None:
    program = (
        "import sys\n"
        "from runtime import Runtime, declare_input, derived\n"
        "@declare_input\n"
        "def x(rt): ...\n"
        "@derived\n"
        "def y(rt): return x(rt) + 1\n"
        "rt = Runtime()\n"
        "x.set(rt, 1)\n"
        "assert y(rt) == 2 and y(rt) == 2\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'django', 'celery', 'kombu', 'rest_framework', "
        "'salsaweb'}), 'runtime.db' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] False"


def test_the_engine_core_imports_nothing_of_django_the_store_or_the_web(graph: grimp.ImportGraph) -> None:
    reached = {
        module: sorted(
            imported for imported in graph.find_upstream_modules(module)
            if imported.startswith(NOT_FOR_THE_ENGINE)
        )
        for module in engine_modules(graph)
    }
    assert {module: found for module, found in reached.items() if found} == {}


def test_the_engine_has_no_import_circle(graph: grimp.ImportGraph) -> None:
    assert circles(graph, engine_modules(graph)) == []


def test_the_whole_tree_has_no_import_circle(graph: grimp.ImportGraph) -> None:
    ours = {m for m in graph.modules if m.split(".")[0] in ("runtime", "salsaweb")}
    assert circles(graph, ours) == []


def test_each_engine_module_imports_only_modules_above_it_in_the_table_of_contents(graph: grimp.ImportGraph) -> None:
    """``runtime/__init__.py`` lists the modules from the vocabulary up: the list is the layering."""
    order = re.findall(r"^- ``(\w+)/?``", runtime.__doc__ or "", flags=re.MULTILINE)
    rank = {name: position for position, name in enumerate(order)}

    def place(module: str) -> int:
        return rank[module.split(".")[1]]

    modules = engine_modules(graph) - {"runtime"}
    assert {module.split(".")[1] for module in modules} == set(rank), "the table of contents lists every module"
    upward = sorted(
        (module, imported)
        for module in modules
        for imported in graph.find_modules_directly_imported_by(module) & modules
        if place(imported) > place(module)
    )
    assert upward == []


def test_the_store_imports_nothing_of_the_web(graph: grimp.ImportGraph) -> None:
    store = {m for m in graph.modules if m.startswith("runtime.db")}
    assert sorted(m for m in store if any(i.startswith("salsaweb") for i in graph.find_upstream_modules(m))) == []


def test_the_web_reaches_the_store_only_through_its_package_selectors_and_services(graph: grimp.ImportGraph) -> None:
    allowed = {"runtime.db", "runtime.db.selectors", "runtime.db.services"}
    reached = sorted(
        (module, imported)
        for module in graph.modules if module.startswith("salsaweb")
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("runtime.db") and imported not in allowed
    )
    assert reached == []


@pytest.mark.parametrize(("app", "never"), [
    ("salsaweb.regression", ("salsaweb.api", "salsaweb.dashboard")),
    ("salsaweb.api", ("salsaweb.dashboard",)),
    ("salsaweb.dashboard", ("salsaweb.api",)),
])
def test_apps_import_one_way(graph: grimp.ImportGraph, app: str, never: tuple[str, ...]) -> None:
    modules = {m for m in graph.modules if m == app or m.startswith(app + ".")}
    assert sorted(
        (module, imported) for module in modules for imported in graph.find_upstream_modules(module)
        if imported.startswith(never)
    ) == []
