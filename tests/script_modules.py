"""The kit's scripts (scripts/*.py are programs, not a package) imported as modules by the tests that exercise them."""

import importlib
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def import_scripts(*names: str) -> list:
    """The modules scripts/<name>.py, imported with scripts/ on the path only while they import."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(SCRIPTS))
