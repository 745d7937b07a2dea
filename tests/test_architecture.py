"""ARCHITECTURE.md's layering, checked on the source: airspace <- utm <- sim <- api; imports point down."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("airspace", "utm", "sim", "api")  # each may import those before it, never those after


def _modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def _imported_top_levels(path: Path, root: Path = ROOT) -> set[str]:
    """First components of every module the file imports, absolute or relative (resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(root).parts[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(base[0] if base else (node.module or "").split(".")[0])
            elif node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_layer_above_its_own(path: Path):
    layer = path.relative_to(ROOT).parts[0]
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    upward = sorted(_imported_top_levels(path) & above)
    assert not upward, f"{path.relative_to(ROOT)} ({layer}) imports {upward}, a layer above it"


def test_the_checker_sees_an_upward_import(tmp_path: Path):
    """The check itself can fail: a planted upward import is found, absolute or relative."""
    probe = tmp_path / "airspace" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "import numpy\nfrom sim.engine import Engine\nfrom ..api import cli\nfrom . import volumes\n"
    )
    assert _imported_top_levels(probe, tmp_path) == {"numpy", "sim", "api", "airspace"}


def test_every_layer_is_a_package():
    for layer in LAYERS:
        assert (ROOT / layer / "__init__.py").is_file(), f"{layer}/__init__.py is missing"
