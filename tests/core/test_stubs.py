"""The typed stub lists exactly what the compiled module exports."""

import ast
from pathlib import Path

import ems
from ems import _core

STUB = Path(ems.__file__).parent / "_core.pyi"


def stub_tree() -> ast.Module:
    return ast.parse(STUB.read_text())


def test_stub_names_every_export_and_nothing_else() -> None:
    names = set()
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    exported = {n for n in dir(_core) if not n.startswith("_")}
    assert names == exported


def test_stub_names_every_public_method() -> None:
    for node in stub_tree().body:
        if not isinstance(node, ast.ClassDef) or node.name.endswith("Error"):
            continue
        in_stub = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
        real = {m for m in dir(getattr(_core, node.name)) if not m.startswith("_")}
        assert real <= in_stub, (node.name, sorted(real - in_stub))
