"""protocol/ stays pure: no I/O, clock or randomness, and nothing from the project but errors."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mppcli.protocol

PACKAGE = Path(mppcli.protocol.__file__).parent
ALLOWED_ROOTS = {
    "__future__",
    "base64",
    "binascii",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "functools",
    "hashlib",
    "hmac",
    "json",
    "math",
    "re",
    "struct",
    "typing",
    "solders",
}
ALLOWED_PROJECT = ("mppcli.errors", "mppcli.protocol")
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}


def imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_protocol_imports_only_pure_modules() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 14
    for path in modules:
        for name in imported_names(ast.parse(path.read_text())):
            if name.startswith("mppcli"):
                assert name.startswith(ALLOWED_PROJECT), f"{path.name} imports {name}"
            else:
                assert name.split(".")[0] in ALLOWED_ROOTS, f"{path.name} imports {name}"


def test_protocol_never_reads_the_clock() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                where = f"{path.name}:{node.lineno}"
                assert node.func.attr not in CLOCK_CALLS, f"{where} calls .{node.func.attr}()"


def test_importing_the_protocol_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import mppcli.protocol.auth, mppcli.protocol.voucher\n"
        "import mppcli.protocol.actions, mppcli.protocol.metering\n"
        "print(','.join(m for m in ('solders', 'solana', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
