"""What importing a package does: it loads no module above it and registers nothing (each package's
init_app does its wiring)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINTS = ("floqast.api", "floqast.settings", "floqast.auth", "floqast.home", "floqast.health")


def loaded_after(module: str) -> set[str]:
    """The modules of floqast a fresh interpreter holds after importing `module`."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    return {name for name in json.loads(result.stdout) if name.startswith("floqast")}


@pytest.mark.parametrize("module", ["floqast.web.errors", "floqast.web.security", "floqast.web.json_errors"])
def test_the_web_plumbing_loads_no_blueprint(module):
    loaded = loaded_after(module)
    assert module in loaded
    assert not {name for name in loaded if name.startswith(BLUEPRINTS)}
