"""Memory and time of one Gradescope grade, measured the way Gradescope limits it.

    sudo python scripts/grade_footprint.py SUBMISSION [--cpus 0.5] [--memory_mb 768] [--json OUT]

Builds the autograder zip from this repo, lays it out as /autograder in a temporary folder, runs setup.sh
(without its installation: this machine has the packages), then run_autograder on SUBMISSION (a zip or
folder) inside a cgroup with Gradescope's default limits: a CPU quota of `--cpus` cores and `--memory_mb`
of memory. Prints the wall-clock and CPU time, the peak memory of the whole tree (the cgroup's own peak,
and the largest sum of the processes' PSS, sampled), whether the kernel killed anything for memory, and
the score. Needs root (cgroups, and the grade's student user); cgroup v1 and v2 both work.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grading.gradescope import build_autograder  # noqa: E402

CGROUP = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class Cgroup:
    """A cgroup (v2, or v1's cpu and memory hierarchies) with a CPU quota and a memory limit."""

    def __init__(self, name: str, cpus: float, memory_bytes: int):
        self.v2 = (CGROUP / "cgroup.controllers").exists()
        if self.v2:
            self.dirs = {"cpu": CGROUP / name, "memory": CGROUP / name}
            self.dirs["cpu"].mkdir()
            (self.dirs["cpu"] / "cpu.max").write_text(f"{int(cpus * PERIOD_US)} {PERIOD_US}")
            (self.dirs["memory"] / "memory.max").write_text(str(memory_bytes))
        else:
            self.dirs = {"cpu": CGROUP / "cpu" / name, "memory": CGROUP / "memory" / name}
            for folder in self.dirs.values():
                folder.mkdir()
            (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))

    def enter(self) -> None:  # called in the child before exec: everything it starts stays inside
        for folder in set(self.dirs.values()):
            (folder / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self) -> list:
        return [int(pid) for pid in (self.dirs["memory"] / "cgroup.procs").read_text().split()]

    def peak_bytes(self) -> int:
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        path = self.dirs["memory"] / name
        return int(path.read_text()) if path.exists() else -1

    def oom_kills(self) -> int:
        path = self.dirs["memory"] / ("memory.events" if self.v2 else "memory.oom_control")
        fields = dict(line.split() for line in path.read_text().splitlines())
        return int(fields.get("oom_kill", 0))

    def remove(self) -> None:
        for folder in set(self.dirs.values()):
            folder.rmdir()


def pss_bytes(pids) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass  # it ended meanwhile
    return total


def lay_out(root: Path, submission: Path) -> None:
    archive = root.parent / "autograder.zip"
    build_autograder(REPO, archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777 or 0o644)
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as zf:
            zf.extractall(root / "submission")
    else:
        shutil.copytree(submission, root / "submission")


def measure(submission: Path, cpus: float, memory_mb: int) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="synckit-footprint-") as scratch:
        root = Path(scratch) / "autograder"
        lay_out(root, submission)
        subprocess.run(["bash", str(root / "source" / "setup.sh")], env={**env, "SKIP_INSTALL": "1"},
                       check=True, capture_output=True)
        group = Cgroup(f"synckit-footprint-{os.getpid()}", cpus, memory_mb << 20)
        try:
            before, started, peak_pss = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic(), 0
            process = subprocess.Popen([str(root / "source" / "run_autograder")], cwd=root, preexec_fn=group.enter,
                                       env={**env, "AUTOGRADER_ROOT": str(root)}, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            while process.poll() is None:
                peak_pss = max(peak_pss, pss_bytes(group.pids()))
                time.sleep(0.05)
            wall_s = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the processes that were waited for
            document = json.loads((root / "results" / "results.json").read_text())
            return {"cpus": cpus, "memory_limit_mb": memory_mb, "wall_s": round(wall_s, 1),
                    "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
                    "peak_cgroup_mib": round(group.peak_bytes() / 2**20), "peak_pss_mib": round(peak_pss / 2**20),
                    "oom_kills": group.oom_kills(), "score": document.get("score"),
                    "max_score": sum(test.get("max_score", 0) for test in document.get("tests", []))}
        finally:
            group.remove()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="a student's .zip or folder")
    parser.add_argument("--cpus", type=float, default=0.5, help="CPU quota in cores (Gradescope's default: 0.5)")
    parser.add_argument("--memory_mb", type=int, default=768, help="memory limit (Gradescope's default: 768 MB)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("error: run as root: it makes a cgroup, and the grade runs student code as another user")
    if not args.submission.exists():
        sys.exit(f"error: {args.submission} does not exist; give a submission .zip or folder")
    figures = measure(args.submission, args.cpus, args.memory_mb)
    for key, value in figures.items():
        print(f"{key:>16}: {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
