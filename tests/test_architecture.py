"""Rules about the code's shape that a reviewer should not have to check by eye.

Each rule reads the source with ``ast`` (nothing is imported), and its failure names every
offender as ``file:line name``, so the fix starts from the message.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parent
ROOT = TESTS.parent
CORE = ROOT / "src" / "ringcast" / "core"

#: Longest a function in the core may be, counting its def line and docstring.
MAX_CORE_FUNCTION_LINES = 60

Function = ast.FunctionDef | ast.AsyncFunctionDef


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def collected_tests(module: ast.Module) -> Iterator[Function]:
    """The functions pytest collects: ``test*`` at module level and in ``Test*`` classes."""
    for node in module.body:
        if isinstance(node, Function) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (
                item
                for item in node.body
                if isinstance(item, Function) and item.name.startswith("test")
            )


def where(path: Path, node: Function) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"


def test_every_test_has_a_docstring() -> None:
    """Every test function under tests/ carries a docstring saying what it checks."""
    seen = 0
    undocumented = []
    for path in python_files(TESTS):
        for node in collected_tests(ast.parse(path.read_text(), str(path))):
            seen += 1
            if not ast.get_docstring(node):
                undocumented.append(where(path, node))
    assert seen > 100, f"only {seen} tests found under {TESTS}: is the walk looking elsewhere?"
    offenders = "\n".join(undocumented)
    assert not undocumented, f"tests without a docstring:\n{offenders}"


def test_no_core_function_is_longer_than_60_lines() -> None:
    """No function or method in src/ringcast/core/ spans more than 60 lines, def to end."""
    seen = 0
    too_long = []
    for path in python_files(CORE):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, Function):
                seen += 1
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CORE_FUNCTION_LINES:
                    too_long.append(f"{where(path, node)}: {length} lines")
    assert seen > 50, f"only {seen} functions found under {CORE}: is the walk looking elsewhere?"
    offenders = "\n".join(too_long)
    assert not too_long, f"core functions over {MAX_CORE_FUNCTION_LINES} lines:\n{offenders}"


MAX_SOURCE_FILE_LINES = 600  #: a module longer than this holds more than one job
MAX_SQL_STORE_LINES = 150  #: db/store.py only assembles SqlStore from db/sql/


def test_no_source_file_is_longer_than_600_lines() -> None:
    """No module under src/ is over 600 lines, and db/store.py only assembles the store."""
    sizes = {
        path: len(path.read_text().splitlines()) for path in python_files(ROOT / "src" / "ringcast")
    }
    assert len(sizes) > 50, f"only {len(sizes)} modules found: is the walk looking elsewhere?"
    too_long = [
        f"{p.relative_to(ROOT)}: {n} lines" for p, n in sizes.items() if n > MAX_SOURCE_FILE_LINES
    ]
    assert not too_long, "modules over 600 lines:\n" + "\n".join(too_long)
    store = ROOT / "src" / "ringcast" / "db" / "store.py"
    assert sizes[store] < MAX_SQL_STORE_LINES, f"db/store.py has {sizes[store]} lines"


def test_commands_start_without_the_provider_sdks() -> None:
    """Every command, the server and the workers import ringcast.cli; the Twilio, LiveKit
    and Retell SDKs take seconds to import and are loaded only by a connection that uses
    them (``gateways.provider_settings`` keeps their settings free of them)."""
    probe = (
        "import sys, ringcast.cli, ringcast.api.app, ringcast.services.connections;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'twilio', 'retell', 'livekit'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == "[]"
