"""Running a submission's code in a child process the grader can always stop and read.

Limits: wall-clock time (the whole process group is killed, so forked children die too), address space
(RLIMIT_AS: an allocation past it fails inside the child instead of taking the machine down), file size
(RLIMIT_FSIZE: the kernel stops a child that writes past it, so a print loop cannot fill the disk) and
output (only the first bytes are read back). The child gets a
clean environment without the grader's secrets and with the model hub offline.

As root, the child runs as the student user (grading/isolation.py) in a `child_folder`, a root folder that
holds `code/`, its own copy of what it runs, and `own/`, where it writes (`out/` for its outputs, `home/`
and `tmp/` for HOME and TMPDIR); it can change nothing else there. When it is done, every process of that user is killed and checked gone, and whatever links or
special files it left in `own/` are removed, before the grader reads a byte of it.
"""

import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from grading.isolation import MAX_PROCESSES, StudentUser, kill_everything

PIPE_BYTES = 65536  # Linux's default pipe buffer
DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY_BYTES = 4 << 30  # importing torch + diffusers maps about 1 GiB
DEFAULT_OUTPUT_BYTES = 64 << 10
DEFAULT_FILE_BYTES = 64 << 20
# OMP_NUM_THREADS: graders side by side on one machine (batch shards) keep their children to their share of the
# cores; torch threads that outnumber the cores spin and wait, many times slower.
ENV_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "HF_HOME", "OMP_NUM_THREADS")


@dataclass
class RunResult:
    returncode: int | None  # None when the run was killed at the time limit
    timed_out: bool
    output: str  # stdout and stderr interleaved, cut to the output limit
    output_bytes: int  # how much the child wrote in all

    @property
    def summary(self) -> str:
        """How the child stopped, in words a student can act on."""
        if self.timed_out:
            return "stopped at the time limit"
        if self.returncode == -signal.SIGXFSZ:
            return "killed for writing more than the file-size limit (printing megabytes?)"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode} (out of memory?)"
        if self.returncode > 0:  # the grader's drivers catch what graded code raises: this is mostly os._exit
            return f"the process exited with code {self.returncode}: graded code must return, not exit"
        return "the process exited with code 0"


def child_environment(extra=None, own=None) -> dict:
    env = {name: os.environ[name] for name in ENV_KEPT if name in os.environ}
    env.update(HF_HUB_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    if own is not None:
        env.update(HOME=str(own / "home"), TMPDIR=str(own / "tmp"))
    env.update(extra or {})
    return env


@contextmanager
def child_folder(user: StudentUser | None, prefix="synckit-child-"):
    """A new folder for one child, removed afterwards: `own/` inside it is the child's (see the module doc);
    the caller puts what it runs in `code/` with `copy_code`."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        own = folder / "own"
        for path in (own, own / "home", own / "tmp", own / "out"):
            path.mkdir(mode=0o700)
            if user is not None:
                os.chown(path, user.uid, user.gid)
        if user is not None:
            os.chmod(folder, 0o711)  # the user reaches code/ and own/ by name, lists and renames nothing here
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_code(source: Path, dest: Path, user: StudentUser | None) -> None:
    """Copy the tree a child runs into its folder: the child's own copy, owned by `user` (code that writes a
    debug file next to itself works as it does at home) and closed to every other user (a grader beside
    this one runs another submission as another user), whatever the source's modes were."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), copy_function=shutil.copyfile)
    for folder, _, files in os.walk(dest):
        for path, mode in [(folder, 0o700), *((os.path.join(folder, name), 0o600) for name in files)]:
            os.chmod(path, mode)
            if user is not None:
                os.chown(path, user.uid, user.gid)


def settle(own: Path) -> None:
    """Remove what a child may have left to trick the grader's reads: symbolic links (to files only root
    may read), FIFOs (a read that never returns) and other non-regular files. Call it once the child's
    processes are gone, so nothing can change under it."""
    for folder, dirs, files in os.walk(own):  # os.walk does not follow links to folders
        for name in dirs + files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                os.unlink(path)


def run_limited(command, cwd, timeout_s=DEFAULT_TIMEOUT_S, memory_bytes=DEFAULT_MEMORY_BYTES,
                output_bytes=DEFAULT_OUTPUT_BYTES, file_bytes=DEFAULT_FILE_BYTES, env=None,
                user: StudentUser | None = None, own: Path | None = None, stdin: bytes = b"") -> RunResult:
    """Run `command` (a list) in `cwd` under the limits, as `user` when given, with HOME and TMPDIR in `own`
    when given (see `child_folder`), with `stdin` as its whole standard input; never raises for anything the
    child does.

    `stdin` goes through a pipe, not a file: what the child has read is gone, so a program handed over as
    `python - ...` cannot be read again by the code it runs (a file, even an open one, could be)."""
    if len(stdin) > PIPE_BYTES:
        raise ValueError(f"stdin of {len(stdin)} bytes does not fit a pipe's {PIPE_BYTES}-byte buffer")

    def set_limits():  # runs in the child, after it became `user`
        if memory_bytes is not None:  # None for GPU work: CUDA reserves far more address space than it uses
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        if user is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))

    # Output goes to an unlinked temporary file, not a pipe: a child that writes without end can neither
    # block on a full pipe nor grow the grader's memory; we read back only the first bytes.
    with tempfile.TemporaryFile() as sink:
        read_end, write_end = os.pipe()
        os.write(write_end, stdin)  # fits the pipe's buffer (checked above), so this cannot block
        os.close(write_end)
        try:
            process = subprocess.Popen(
                command, cwd=cwd, stdin=read_end, stdout=sink, stderr=subprocess.STDOUT,
                env=child_environment(env, own), start_new_session=True, preexec_fn=set_limits,
                **(user.popen_arguments() if user is not None else {}),
            )
        finally:
            os.close(read_end)
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
        if user is not None:  # what escaped the group (setsid, a double fork) dies here
            kill_everything(user)
        if own is not None:
            settle(own)
        written = sink.seek(0, os.SEEK_END)
        sink.seek(0)
        head = sink.read(output_bytes).decode(errors="replace")
    if written > output_bytes:
        head += f"\n[output cut: {written} bytes written, the first {output_bytes} kept]"
    return RunResult(None if timed_out else process.returncode, timed_out, head, written)
