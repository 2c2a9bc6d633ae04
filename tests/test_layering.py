"""ARCHITECTURE's dependency direction, the pure core and the absence of import cycles, checked
statically over every module.

Imports are read with `ast` (module level and inside functions alike), so a lazy import inside a
command or a flow counts as much as one at the top (cycles: see the section below). The checker
itself is tested on small snippets so a rule that silently matches nothing would fail here too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "mppcli"


@dataclass(frozen=True)
class ImportSite:
    """One imported module name (absolute, relative imports resolved) and where it was imported."""

    module: str
    target: str
    line: int


@dataclass(frozen=True)
class Call:
    """One call expression, named by its dotted callee (`datetime.now`, `open`)."""

    module: str
    callee: str
    line: int


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    """The dotted name of a module file under the package root."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an `ImportFrom` names (relative levels resolved against `module`)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str, tree: ast.AST, is_package: bool = False) -> Iterator[ImportSite]:
    """Every module an AST imports; `from a import b` also yields `a.b` (b may be a submodule)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield ImportSite(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(module, is_package, node)
            yield ImportSite(module, base, node.lineno)
            for alias in node.names:
                yield ImportSite(module, f"{base}.{alias.name}", node.lineno)
        elif isinstance(node, ast.Call) and _dotted(node.func) in ("importlib.import_module", "__import__"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield ImportSite(module, first.value, node.lineno)


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for a Name/Attribute chain; the chain's tail (`?.now`) when it starts elsewhere."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def calls_of(module: str, tree: ast.AST) -> Iterator[Call]:
    """Every call in a module, by dotted callee."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield Call(module, _dotted(node.func), node.lineno)


@dataclass(frozen=True)
class Source:
    module: str
    is_package: bool
    tree: ast.AST


def all_sources() -> list[Source]:
    """Every module of the package, parsed."""
    sources = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        sources.append(Source(module_name(path), path.name == "__init__.py", tree))
    return sources


SOURCES = all_sources()


def within(name: str, package: str) -> bool:
    """True when module `name` is `package` or lives inside it."""
    return name == package or name.startswith(package + ".")


def all_imports() -> list[ImportSite]:
    return [site for source in SOURCES for site in imports_of(source.module, source.tree, source.is_package)]


# --- the dependency direction -------------------------------------------------------------------

PURE = ("mppcli.protocol", "mppcli.chain")
LOW = ("mppcli.files", "mppcli.wallet", "mppcli.state", "mppcli.rpc")

# (importer package, packages it must not import)
FORBIDDEN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mppcli.chain", ("mppcli.protocol",)),
    ("mppcli.protocol", ("mppcli.chain",)),
    *((low, ("mppcli.client", "mppcli.server", "mppcli.ledger", "mppcli.cli", "mppcli.config"))
      for low in LOW),
    ("mppcli.files", ("mppcli.wallet", "mppcli.state", "mppcli.rpc")),  # the lowest: only errors
    ("mppcli.client", ("mppcli.server", "mppcli.ledger")),
    ("mppcli.server", ("mppcli.client", "mppcli.cli")),
    ("mppcli.ledger", ("mppcli.client", "mppcli.server", "mppcli.cli")),
)

# Modules above cli/ that may import it, with the reason.
CLI_IMPORTERS_ALLOWED = {
    "mppcli.__main__": "`python -m mppcli` is the console entry point, the same as the `mpp` script",
}


def layering_violations(sites: list[ImportSite]) -> list[str]:
    """Every import that points the wrong way, as `importer:line -> target (rule)`."""
    found = []
    for site in sites:
        for pure in PURE:
            if within(site.module, pure) and within(site.target, "mppcli"):
                allowed = within(site.target, pure) or within(site.target, "mppcli.errors")
                allowed = allowed or site.target == "mppcli"  # `from mppcli import x`: x judged below
                if not allowed:
                    found.append(f"{site.module}:{site.line} -> {site.target} (pure core: only errors)")
        for importer, banned in FORBIDDEN:
            if within(site.module, importer):
                found.extend(
                    f"{site.module}:{site.line} -> {site.target} ({importer} must not import {ban})"
                    for ban in banned
                    if within(site.target, ban)
                )
        below_cli = not within(site.module, "mppcli.cli") and site.module not in CLI_IMPORTERS_ALLOWED
        if below_cli and any(within(site.target, top) for top in ("mppcli.cli", "typer", "click")):
            found.append(f"{site.module}:{site.line} -> {site.target} (only cli/ uses cli/ and typer)")
    return found


def test_imports_follow_the_dependency_direction() -> None:
    assert layering_violations(all_imports()) == []


# --- the pure core: no clock, no I/O, no randomness --------------------------------------------

IMPURE_MODULES = (
    "time", "socket", "ssl", "select", "selectors", "random", "secrets", "uuid", "os", "sys", "io",
    "shutil", "tempfile", "glob", "subprocess", "threading", "multiprocessing", "asyncio", "signal",
    "logging", "sqlite3", "pathlib", "importlib", "urllib", "http", "httpx", "httpx_sse", "requests",
    "solana", "starlette", "uvicorn", "keyring", "platformdirs", "rich", "typer", "click", "fcntl",
)
IMPURE_CALLS = ("open", "print", "input", "__import__", "Keypair", "exec", "eval")
IMPURE_METHODS = (
    "now", "utcnow", "today", "new_unique", "read_text", "read_bytes", "write_text", "write_bytes",
    "urandom", "getrandbits", "randbytes",
)

# Justified exceptions: (module, what it uses, why).
PURITY_ALLOWED: tuple[tuple[str, str, str], ...] = (
    ("mppcli.chain.idl", "importlib", "reads the IDL that ships inside the package (static data, not state)"),
    ("mppcli.chain.idl", "pathlib", "the checkout's idl/ when running from source (same static file)"),
    ("mppcli.chain.idl", "read_text", "reads that one packaged IDL file, once, cached"),
)


def _allowed(module: str, thing: str) -> bool:
    return any(module == where and thing == what for where, what, _ in PURITY_ALLOWED)


def purity_violations(sources: list[Source]) -> list[str]:
    """Every clock read, I/O or randomness in protocol/ and chain/."""
    found = []
    for source in sources:
        if not any(within(source.module, pure) for pure in PURE):
            continue
        for site in imports_of(source.module, source.tree, source.is_package):
            top = site.target.split(".")[0]
            if top in IMPURE_MODULES and not _allowed(source.module, top):
                found.append(f"{source.module}:{site.line} imports {site.target}")
        for call in calls_of(source.module, source.tree):
            last = call.callee.rsplit(".", 1)[-1]
            bare = call.callee in IMPURE_CALLS
            # `Keypair()` with no seed is random; `Keypair.from_seed(...)` is not, and is not a bare name.
            if (bare or last in IMPURE_METHODS) and not _allowed(source.module, last):
                found.append(f"{source.module}:{call.line} calls {call.callee}")
    return found


def test_protocol_and_chain_read_no_clock_and_do_no_io() -> None:
    assert purity_violations(SOURCES) == []


def test_every_allow_listed_exception_is_still_needed() -> None:
    """An allow-list entry whose module no longer uses the thing is stale and must go."""
    for where, what, _ in PURITY_ALLOWED:
        source = next(s for s in SOURCES if s.module == where)
        uses = [s.target.split(".")[0] for s in imports_of(where, source.tree, source.is_package)]
        uses += [c.callee.rsplit(".", 1)[-1] for c in calls_of(where, source.tree)]
        assert what in uses, f"{where} no longer uses {what}: drop it from PURITY_ALLOWED"
    for module in CLI_IMPORTERS_ALLOWED:
        source = next(s for s in SOURCES if s.module == module)
        assert any(within(s.target, "mppcli.cli") for s in imports_of(module, source.tree, source.is_package))


def test_the_scan_covers_the_whole_package() -> None:
    modules = {source.module for source in SOURCES}
    for package in ("protocol", "chain", "client", "server", "ledger", "wallet", "state", "cli"):
        assert f"mppcli.{package}" in modules
    assert "mppcli.rpc" in modules
    assert "mppcli.ledger.program" in modules  # nested packages are walked too
    assert len(all_imports()) > 500


# --- the checker catches what it should (snippets, not the package) -----------------------------


def _source(module: str, text: str, is_package: bool = False) -> Source:
    return Source(module, is_package, ast.parse(text))


@pytest.mark.parametrize(
    ("module", "text", "needle"),
    [
        ("mppcli.chain.x", "from mppcli.protocol import voucher", "pure core"),
        ("mppcli.chain.x", "def f():\n    from ..protocol.voucher import Voucher", "pure core"),
        ("mppcli.protocol.x", "import mppcli.chain.pda", "pure core"),
        ("mppcli.protocol.x", "from mppcli import state", "pure core"),
        ("mppcli.wallet.x", "def f():\n    import mppcli.client.open", "must not import mppcli.client"),
        ("mppcli.rpc", "from .ledger import core", "must not import mppcli.ledger"),
        ("mppcli.wallet.x", "def f():\n    from mppcli.config import x", "must not import mppcli.config"),
        ("mppcli.client.x", "from ..server import app", "must not import mppcli.server"),
        ("mppcli.server.x", "from mppcli.client.machine import M", "must not import mppcli.client"),
        ("mppcli.ledger.program.x", "from ...cli import output", "must not import mppcli.cli"),
        ("mppcli.doctor", "import typer", "only cli/"),
        ("mppcli.state.x", "import importlib\nimportlib.import_module('mppcli.cli.app')", "only cli/"),
    ],
)
def test_layering_checker_flags(module: str, text: str, needle: str) -> None:
    source = _source(module, text)
    found = layering_violations(list(imports_of(source.module, source.tree, source.is_package)))
    assert any(needle in line for line in found), found


@pytest.mark.parametrize(
    ("module", "text"),
    [
        ("mppcli.chain.x", "from mppcli.errors import MalformedError\nfrom .pda import find_pda"),
        ("mppcli.protocol.x", "from . import encoding\nfrom mppcli.protocol.fields import need_str"),
        ("mppcli.client.x", "from mppcli.rpc import Rpc\nfrom mppcli.chain import pda"),
        ("mppcli.cli.x", "import typer\nfrom mppcli.client import open"),
        ("mppcli.__main__", "from mppcli.cli.app import main"),
    ],
)
def test_layering_checker_passes(module: str, text: str) -> None:
    source = _source(module, text)
    assert layering_violations(list(imports_of(source.module, source.tree, source.is_package))) == []


@pytest.mark.parametrize(
    "text",
    [
        "import time\ndef f():\n    return time.time()",
        "def f():\n    from datetime import datetime\n    return datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "def f(p):\n    return open(p).read()",
        "import os\nsalt = os.urandom(8)",
        "def f():\n    import secrets\n    return secrets.token_bytes(8)",
        "from random import randint",
        "import socket",
        "async def f():\n    import httpx",
        "from solders.keypair import Keypair\nk = Keypair()",
        "from solders.pubkey import Pubkey\np = Pubkey.new_unique()",
        "def f(path):\n    return path.read_bytes()",
    ],
)
def test_purity_checker_flags(text: str) -> None:
    assert purity_violations([_source("mppcli.protocol.x", text)]) != []


def test_purity_checker_passes_pure_code_and_ignores_other_packages() -> None:
    pure = "import hashlib\nfrom solders.keypair import Keypair\nk = Keypair.from_seed(bytes(32))"
    assert purity_violations([_source("mppcli.chain.x", pure)]) == []
    assert purity_violations([_source("mppcli.server.x", "import time\ntime.time()")]) == []
    assert purity_violations([_source("mppcli.protocol.x", "import pathlib")]) != []


# --- no import cycles ------------------------------------------------------------------------------
# Two graphs. Module-level imports are what `import mppcli.x` runs at once: a cycle there makes import
# order matter and breaks on a reorder. Imports inside functions (kept there for start-up speed) run
# later, but a cycle through them still means two modules know each other, so both graphs must be
# acyclic. Only `if TYPE_CHECKING:` imports are left out: they never run.


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and _dotted(node.test).rsplit(".", 1)[-1] == "TYPE_CHECKING"


def runtime_imports_of(tree: ast.AST, module_level_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run (no TYPE_CHECKING blocks; no function bodies if asked)."""
    pending: list[ast.AST] = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if _is_type_checking(node):
            continue
        if module_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def _imported_modules(source: Source, node: ast.Import | ast.ImportFrom, modules: set[str]) -> Iterator[str]:
    """The package modules one statement depends on: `from p import m` (a submodule) on p.m, `from
    p import name` on p itself; `import a.b` on a.b."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            parts = alias.name.split(".")
            names = [".".join(parts[:end]) for end in range(len(parts), 0, -1)]
            yield from [name for name in names if name in modules][:1]
        return
    base = resolve_from(source.module, source.is_package, node)
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            yield f"{base}.{alias.name}"
        elif base in modules:
            yield base


def import_graph(sources: list[Source], module_level_only: bool) -> dict[str, set[str]]:
    """Module -> the package modules it imports, and the packages such an import runs on the way.

    `import a.b.c` also runs `a/__init__` and `a/b/__init__`: those are edges too, except a module's
    own enclosing packages (they are already running when it is imported).
    """
    modules = {source.module for source in sources}
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for source in sources:
        for node in runtime_imports_of(source.tree, module_level_only):
            for target in _imported_modules(source, node, modules):
                parts = target.split(".")
                implicit = {".".join(parts[:end]) for end in range(1, len(parts))}
                graph[source.module].update(
                    name for name in implicit
                    if name in modules and not within(source.module, name))
                if target != source.module:
                    graph[source.module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_import_cycle_among_module_level_imports() -> None:
    assert cycles(import_graph(SOURCES, module_level_only=True)) == []


def test_no_import_cycle_even_through_imports_inside_functions() -> None:
    assert cycles(import_graph(SOURCES, module_level_only=False)) == []


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same edges between mppcli's top-level packages and modules (`mppcli.config`, `mppcli.wallet`)."""
    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(top(module), set()).update(top(t) for t in targets if top(t) != top(module))
    return packages


def test_no_cycle_between_packages() -> None:
    """A lower package never reaches back up, not even through a different module of it."""
    assert cycles(package_graph(import_graph(SOURCES, module_level_only=False))) == []


@pytest.mark.parametrize(
    ("texts", "module_level_only", "expected"),
    [
        ({"mppcli.a": "from mppcli import b", "mppcli.b": "import mppcli.a"}, True,
         [["mppcli.a", "mppcli.b"]]),
        ({"mppcli.a": "from mppcli.b import x", "mppcli.b": "def f():\n    from mppcli.a import y"},
         False, [["mppcli.a", "mppcli.b"]]),
        ({"mppcli.a": "from mppcli.b import x", "mppcli.b": "def f():\n    from mppcli.a import y"},
         True, []),
        ({"mppcli.a": "from mppcli.b import x",
          "mppcli.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mppcli.a import y"},
         False, []),
        ({"mppcli.p": "from mppcli.p.m import x", "mppcli.p.m": "from mppcli.q import y",
          "mppcli.q": "from mppcli.p import z"}, True, [["mppcli.p", "mppcli.p.m", "mppcli.q"]]),
        ({"mppcli.a": "from . import b", "mppcli.b": "x = 1"}, False, []),
    ],
)
def test_cycle_checker(texts: dict[str, str], module_level_only: bool, expected: list[list[str]]) -> None:
    sources = [_source(module, text, is_package=module == "mppcli.p") for module, text in texts.items()]
    assert cycles(import_graph(sources, module_level_only)) == expected


# --- one source per fact: the voucher-signer modes ----------------------------------------------


def test_the_voucher_signer_modes_are_written_once() -> None:
    """Every comparison uses `protocol.session.VoucherSigner`; no module spells the modes itself."""
    spelled = []
    for source in SOURCES:
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                texts = [o.value for o in operands if isinstance(o, ast.Constant)]
                tuples = [e.value for o in operands if isinstance(o, ast.Tuple)
                          for e in o.elts if isinstance(e, ast.Constant)]
                if {"client", "operator"} & set(texts + tuples):
                    spelled.append(f"{source.module}:{node.lineno}")
    assert spelled == []
