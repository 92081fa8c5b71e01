"""Who runs a submission's code, and what it can reach.

Where the grader runs as root (Gradescope's container, a root container of the course's own, CI), every
child that runs student code runs as the unprivileged user `synckit-student`: no supplementary groups,
its own HOME and TMPDIR, a cap on its processes. The grader's own files (the solution, the rubric, the
references, the results folder) are root's and closed to it. After each child every process of that
user is killed (all of them, not just the child's process group: a `setsid` double fork escapes a group)
and the grader checks that none is left before it reads what the child wrote or goes on.

Run as another user (a TA's laptop), the grader cannot switch users: children run as that user, with
its rights, and the grader says so once.

    python -m grading.isolation setup      create the user (Gradescope's setup.sh runs this as root)
    python -m grading.isolation end        kill every process of the student users no running grader
                                           holds and remove their temporary files (run_autograder's
                                           last step)
"""

import fcntl
import functools
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

STUDENT_USER = "synckit-student"
MAX_PROCESSES = 1024  # RLIMIT_NPROC for the user: torch's threads count too; a fork bomb stops here
KILL_ROUNDS = 100  # rounds of "kill all, look again" before the grader gives up and fails loudly


class IsolationError(RuntimeError):
    """Student code cannot be run safely as things are; the message says what to change."""


@dataclass(frozen=True)
class StudentUser:
    name: str
    uid: int
    gid: int

    def popen_arguments(self) -> dict:
        return dict(user=self.uid, group=self.gid, extra_groups=[])


def is_root() -> bool:
    return os.geteuid() == 0


def create_user(name: str = STUDENT_USER) -> StudentUser:
    """The user (created when missing: a system user with its own group, no home, no login shell)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise IsolationError(f"the user {name} has uid {entry.pw_uid} / gid {entry.pw_gid}; it must not be root")
    return StudentUser(name, entry.pw_uid, entry.pw_gid)


LOCK_DIR = Path("/run/synckit")  # root's: which grading process holds which student user
MAX_USERS = 16
_held_locks = []  # open lock files: a user stays this process's until it exits


def user_name(slot: int) -> str:
    return STUDENT_USER if slot == 0 else f"{STUDENT_USER}-{slot}"


def open_lock_dir() -> Path:
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise IsolationError(f"{LOCK_DIR} must be a folder of root's, closed to others; remove it and grade again")
    return LOCK_DIR


def lock_slot(locks: Path, slot: int):
    """The slot's lock file, opened and locked, or None where a grading process holds it (this one included: each
    opening of the file is a lock of its own). The lock lasts while the file stays open."""
    handle = open(locks / f"{slot}.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def claim_slot() -> int:
    """A student user no other grading process on this machine holds: graders running side by side
    (batch shards on one machine) must not kill each other's children when they end their user's processes."""
    locks = open_lock_dir()
    for slot in range(MAX_USERS):
        handle = lock_slot(locks, slot)
        if handle is not None:
            _held_locks.append(handle)
            return slot
    raise IsolationError(f"{MAX_USERS} grading processes on this machine hold every student user; let one finish first")


@functools.cache
def student_user() -> StudentUser | None:
    """As root: the user this process's children run as (its own, see `claim_slot`), checked to be able to
    start Python. Otherwise None (and a note, once per process, that children run with the grader's rights)."""
    if not is_root():
        print(f"note: grading as {pwd.getpwuid(os.geteuid()).pw_name}, not root: student code runs with your "
              f"rights. Grade as root in a container (Gradescope does) to run it as the unprivileged user "
              f"{STUDENT_USER}.", file=sys.stderr)
        return None
    user = create_user(user_name(claim_slot()))
    check_python(user)
    return user


@contextmanager
def idle_users():
    """The student users no running grading process holds, held by this process for the `with` block: what
    of theirs runs or lies in the temporary folders is a leftover, and no grader can claim them meanwhile.
    A held user's processes may be a side-by-side grader's checks at work, and are its to end. Only grading
    processes hold locks: LOCK_DIR is root's alone, and Python's open files are not inherited by the children
    they start (PEP 446), so no student process can keep its user held."""
    locks = open_lock_dir()
    with ExitStack() as stack:
        idle = []
        for slot in range(MAX_USERS):
            try:
                user = pwd.getpwnam(user_name(slot))
            except KeyError:
                continue
            handle = lock_slot(locks, slot)
            if handle is not None:
                stack.enter_context(handle)
                idle.append(StudentUser(user.pw_name, user.pw_uid, user.pw_gid))
        yield idle


def closed_folders() -> list:
    """The folders on the way to this interpreter that other users cannot pass through (pyenv under /root,
    mode 700, and `mktemp -d` venvs are common traps)."""
    folders = {*Path(sys.executable).parents, *Path(sys.executable).resolve().parents}
    return sorted(str(folder) for folder in folders if not os.stat(folder).st_mode & stat.S_IXOTH)


def check_python(user: StudentUser) -> None:
    """The user must be able to start this interpreter."""
    blocked = closed_folders()
    if blocked:
        raise IsolationError(
            f"{user.name} cannot run {sys.executable}: {', '.join(blocked)} is closed to other users. Grade with a "
            f"Python that every user can run (Gradescope's /usr/bin/python3 is), or open the folder for traversal "
            f"only: chmod o+x {blocked[0]}")


def open_to_others(path: Path, permission: int) -> bool:
    """Whether users other than the owner (and its group) have `permission` (stat.S_IROTH, S_IWOTH) on
    `path`, or on its nearest existing ancestor, and can reach it through its folders."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    reachable = all(os.stat(folder).st_mode & stat.S_IXOTH for folder in path.parents)
    return reachable and bool(os.stat(path).st_mode & permission)


def close_grader_files(repo_root: Path, secret_files, results_path: Path) -> None:
    """As root, before any student code runs: the grader's tree (solution, grader code, default rubric)
    is made root-only; any other secret file (a rubric, a references file) must already be closed to
    other users, and the results folder must be writable by root alone. Raises IsolationError."""
    if os.stat(repo_root).st_uid == 0:
        os.chmod(repo_root, 0o700)
    for path in secret_files:
        if path is not None and open_to_others(path, stat.S_IROTH):
            raise IsolationError(f"{path} can be read by other users, student code included; "
                                 f"close it first: chmod o-rwx {Path(path).resolve().parent}")
    if open_to_others(results_path.parent, stat.S_IWOTH):
        raise IsolationError(f"student code could write into the results folder {results_path.parent}; "
                             "write results into a folder only root can write")


def processes_of(uid: int) -> list:
    """Process ids of `uid`'s running processes (zombies, which run nothing, left out)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue  # it ended while we looked
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            found.append(int(entry.name))
    return found


def kill_everything(user: StudentUser) -> None:
    """Kill every process of `user` and make sure none is left; raises IsolationError otherwise.

    kill(-1, SIGKILL) sent *as* the user reaches all of its processes at once: the kernel holds the task
    list while it signals them, so nothing can fork past it.
    """
    for _ in range(KILL_ROUNDS):
        pid = os.fork()
        if pid == 0:  # the child becomes the user just to send the signal, then leaves
            try:
                os.setgroups([])
                os.setgid(user.gid)
                os.setuid(user.uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not processes_of(user.uid):
            return
        time.sleep(0.02)  # SIGKILL is delivered, but the processes are not yet reaped from /proc
    raise IsolationError(f"processes of {user.name} survive SIGKILL: {processes_of(user.uid)[:10]}")


SHARED_TEMP = ("/tmp", "/var/tmp", "/dev/shm")  # where any user may leave files


def remove_files_of(user: StudentUser) -> int:
    """Delete what `user` left in the shared temporary folders (one submission must not read another's
    leftovers when a batch grades them one after the other); returns how many entries went."""
    removed = 0
    for top in SHARED_TEMP:
        for folder, dirs, files in os.walk(top):
            for name in list(dirs) + files:
                path = os.path.join(folder, name)
                try:
                    if os.lstat(path).st_uid != user.uid:
                        continue
                    if name in dirs and not os.path.islink(path):
                        dirs.remove(name)  # not walked into: it goes whole
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
                    removed += 1
                except OSError:
                    pass  # gone already
    return removed


def main(argv) -> None:
    if argv not in (["setup"], ["end"]):
        sys.exit("usage: python -m grading.isolation setup|end")
    if not is_root():
        if argv == ["end"]:
            return  # no separate user to stop
        sys.exit(f"error: only root can create {STUDENT_USER}; run this as root (Gradescope's setup.sh does)")
    if argv == ["setup"]:
        user = create_user()
        print(f"{user.name}: uid {user.uid}, gid {user.gid}")
        return
    with idle_users() as users:
        for user in users:
            kill_everything(user)
            print(f"{user.name}: no process left, {remove_files_of(user)} temporary files removed")


if __name__ == "__main__":
    main(sys.argv[1:])
