"""Gradescope's layout in a temporary folder: the autograder zip unpacked into ROOT/source (for
/autograder/source), setup.sh run as Gradescope runs it at build time, run_autograder run per submission."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path


def unpack_like_gradescope(archive: Path, root: Path) -> Path:
    """Gradescope unzips the autograder into /autograder/source; `root` stands in for /autograder."""
    kit = root / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(kit)
        for info in zf.infolist():  # zipfile drops the modes that unzip keeps
            os.chmod(kit / info.filename, (info.external_attr >> 16) & 0o777 or 0o644)
    return kit


def environment(root: Path, **extra) -> dict:
    return {**os.environ, "AUTOGRADER_ROOT": str(root), **extra,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # python3 is this python


def run_setup(root: Path):
    """setup.sh without its installation step (this machine has the packages already)."""
    return subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source",
                          env=environment(root, SKIP_INSTALL="1"), capture_output=True, text=True, timeout=600, check=True)


def run_autograder(root: Path, timeout: int, **extra):
    return subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=environment(root, **extra),
                          capture_output=True, text=True, timeout=timeout)
