"""Running a submission's code in a child process the grader can always stop and read.

Limits: wall-clock time (the whole process group is killed, so forked children die too), address space
(RLIMIT_AS: an allocation past it fails inside the child instead of taking the machine down), file size
(RLIMIT_FSIZE: the kernel stops a child that writes past it, so a print loop cannot fill the disk) and
output (only the first bytes are read back). The child gets a
clean environment without the grader's secrets and with the model hub offline.
"""

import os
import resource
import signal
import subprocess
import tempfile
from dataclasses import dataclass

DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY_BYTES = 4 << 30  # importing torch + diffusers maps about 1 GiB
DEFAULT_OUTPUT_BYTES = 64 << 10
DEFAULT_FILE_BYTES = 64 << 20
ENV_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "HF_HOME")


@dataclass
class RunResult:
    returncode: int | None  # None when the run was killed at the time limit
    timed_out: bool
    output: str  # stdout and stderr interleaved, cut to the output limit
    output_bytes: int  # how much the child wrote in all

    @property
    def summary(self) -> str:
        if self.timed_out:
            return "stopped at the time limit"
        if self.returncode and self.returncode < 0:
            return f"killed by signal {signal.Signals(-self.returncode).name}"
        return f"exit code {self.returncode}"


def child_environment(extra=None) -> dict:
    env = {name: os.environ[name] for name in ENV_KEPT if name in os.environ}
    env.update(HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    env.update(extra or {})
    return env


def run_limited(command, cwd, timeout_s=DEFAULT_TIMEOUT_S, memory_bytes=DEFAULT_MEMORY_BYTES,
                output_bytes=DEFAULT_OUTPUT_BYTES, file_bytes=DEFAULT_FILE_BYTES, env=None) -> RunResult:
    """Run `command` (a list) in `cwd` under the limits; never raises for anything the child does."""

    def set_limits():
        if memory_bytes is not None:  # None for GPU work: CUDA reserves far more address space than it uses
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))

    # Output goes to an unlinked temporary file, not a pipe: a child that writes without end can neither
    # block on a full pipe nor grow the grader's memory; we read back only the first bytes.
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            env=child_environment(env), start_new_session=True, preexec_fn=set_limits,
        )
        try:
            process.wait(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            timed_out = True
        else:  # the child is done, but something it forked may still run
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        written = sink.seek(0, os.SEEK_END)
        sink.seek(0)
        head = sink.read(output_bytes).decode(errors="replace")
    if written > output_bytes:
        head += f"\n[output cut: {written} bytes written, the first {output_bytes} kept]"
    return RunResult(None if timed_out else process.returncode, timed_out, head, written)
