"""The house's walls (pyproject's import-linter contracts) hold, with zero exceptions."""

from __future__ import annotations

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
