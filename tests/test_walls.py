"""The house's walls (pyproject's import-linter contracts) hold, with zero exceptions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_no_unsafe_torch_load_or_bare_except() -> None:
    for path in list((ROOT / "x2studio").rglob("*.py")) + list((ROOT / "training").rglob("*.py")):
        text = path.read_text()
        for i, line in enumerate(text.splitlines(), 1):
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}:{i}"
            assert not line.strip().startswith("except:"), f"bare except at {path}:{i}"


# ----------------------------------------------------------------------------- the code's shape
PACKAGES = ("x2studio", "training")


def _sources() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text()) for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names(tree: ast.Module) -> set[str]:
    """Every name a module defines: functions, classes, assigned names and attributes."""
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store):
            names.add(n.attr)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
    return names


def test_no_module_uses_a_private_name_of_another() -> None:
    """``from m import _x`` and ``obj._x`` (obj not self/cls) where ``_x`` belongs to another module
    of ours: what other layers use gets a public name."""
    trees = _sources()
    defined = {p: _defined_names(t) for p, t in trees.items()}
    ours = set().union(*defined.values())
    found = []
    for path, tree in trees.items():
        where = path.relative_to(ROOT)
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom):
                found += [f"{where}:{n.lineno} imports {a.name}" for a in n.names if _private(a.name)]
            elif isinstance(n, ast.Attribute) and _private(n.attr) and n.attr in ours and n.attr not in defined[path]:
                base = n.value
                own = isinstance(base, ast.Name) and base.id in ("self", "cls")
                own |= isinstance(base, ast.Call) and getattr(base.func, "id", None) == "super"
                if not own:
                    found.append(f"{where}:{n.lineno} uses {ast.unparse(n)}")
    assert not found, "\n".join(found)


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or through others (lazy imports included)."""
    import grimp

    graph = grimp.build_graph(*PACKAGES)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != module and graph.find_shortest_chain(importer=imported, imported=module) is not None:
                cycles.append(f"{module} -> {imported} -> … -> {module}")
    assert not cycles, "\n".join(cycles)


# Functions over 80 lines and modules over 500 lines: none are left; these stay empty (a long one
# that must stay so is named here with its length, and the list may only shrink).
LONG_FUNCTIONS: dict[str, int] = {}
LONG_MODULES: dict[str, int] = {}


def test_functions_and_modules_stay_short() -> None:
    too_long = []
    for path, tree in _sources().items():
        where = str(path.relative_to(ROOT))
        lines = len(path.read_text().splitlines())
        if lines > max(500, LONG_MODULES.get(where, 0)):
            too_long.append(f"{where}: {lines} lines")
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = n.end_lineno - n.lineno + 1
                if length > max(80, LONG_FUNCTIONS.get(f"{where}:{n.name}", 0)):
                    too_long.append(f"{where}:{n.lineno} {n.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


def test_the_command_line_starts_light() -> None:
    """``import x2studio.cli`` loads no model library (torch, OpenCV, pretty_midi and its
    FluidSynth binding): each command imports what it runs, so ``--help`` answers at once."""
    code = "import sys, x2studio.cli; print(sorted(m for m in ('torch', 'cv2', 'pretty_midi', 'fluidsynth', " \
           "'PySide6') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
