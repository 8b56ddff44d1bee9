"""The key domain stands alone: importing it loads no blueprint, no settings and no Flask-Login, and starts nothing
(no SQLAlchemy listener, thread or process hook) until an app's init_app asks."""

import json
import subprocess
import sys

from helpers import ROOT

# Imports every module of floqast.keys in a fresh interpreter, and tells what that loaded and started.
PROBE = """
import atexit, importlib, json, os, pkgutil, sys, threading

# The module a listener or hook was defined in (the standard library's and SQLAlchemy's own are not ours).
def module_of(function):
    function = getattr(function, "func", function)  # a functools.partial's function
    return getattr(getattr(function, "__func__", function), "__module__", "") or ""


hooks = []
atexit.register = lambda function, *args, **kwargs: hooks.append(module_of(function))
os.register_at_fork = lambda **functions: hooks.extend(map(module_of, functions.values()))
threads = threading.active_count()

import floqast.keys
from sqlalchemy.event import registry

for module in pkgutil.iter_modules(floqast.keys.__path__, "floqast.keys."):
    importlib.import_module(module.name)

listeners = [module_of(ref()) for collection in registry._key_to_collection.values() for ref in collection.values()]
print(json.dumps({
    "modules": sorted(sys.modules),
    "our listeners": [module for module in listeners if module.startswith("floqast")],
    "our hooks": [module for module in hooks if module.startswith("floqast")],
    "new threads": threading.active_count() - threads,
}))
"""


def test_importing_the_key_domain_loads_no_blueprint_and_starts_nothing():
    probed = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    found = json.loads(probed.stdout)
    assert "floqast.keys.authenticate" in found["modules"]
    assert [module for module in found["modules"]
            if module.partition(".")[0] == "flask_login" or module.startswith(("floqast.api", "floqast.settings"))
            ] == []
    assert (found["our listeners"], found["our hooks"], found["new threads"]) == ([], [], 0)
