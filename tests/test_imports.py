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


# Records what floqast registers with the process (fork and exit hooks) and the threads running, as JSON.
HOOKS_OF_FLOQAST = """
import atexit, json, os, threading

registered = []


def of_floqast(function) -> bool:
    return (getattr(function, "__module__", None) or "").startswith("floqast")


os.register_at_fork = lambda **hooks: registered.extend("fork" for hook in hooks.values() if of_floqast(hook))
atexit.register = lambda function, *args, **kwargs: registered.extend(["exit"] if of_floqast(function) else [])
{code}
print(json.dumps({{"registered": registered, "threads": threading.active_count()}}))
"""


def hooks_after(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", HOOKS_OF_FLOQAST.format(code=code)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_the_request_log_registers_no_hook_and_starts_no_thread():
    modules = sorted(path.stem for path in (ROOT / "floqast" / "usage").glob("*.py") if path.stem != "__init__")
    imports = "\n".join(f"import floqast.usage.{module}" for module in modules)
    assert hooks_after(imports) == {"registered": [], "threads": 1}


def test_every_app_shares_one_fork_hook_and_one_exit_hook_per_process():
    built = "from floqast import create_app\nfrom floqast.config import TestConfig\ncreate_app(TestConfig)\n"
    assert hooks_after(built * 2)["registered"] == ["fork", "exit"]
