"""The small supervisor a kernel runs under when there is no bubblewrap sandbox.

Without bubblewrap a kernel has no process namespace of its own: whatever it signals, it
signals on the grader's machine. The grader therefore never starts a kernel itself. It
starts this supervisor (in a session of its own), which starts the kernel in another
session of its own, so that

* the kernel's parent is the supervisor, not the grader (``os.kill(os.getppid(), ...)``);
* the kernel's process group and session hold the kernel and what it starts, nothing
  else (``os.killpg(0, ...)``);
* when the grader runs as root and every user can run its Python, the kernel runs as an
  unprivileged user id of its own (the grader's choice, never used twice in a run): it
  cannot signal the grader or the supervisor at all, and ``os.kill(-1, ...)`` reaches
  its own processes only.

The kernel gets the grader's resource limits, and dies with the supervisor (Linux's
parent-death signal; ipykernel also watches its parent). The supervisor dies with the
grader, and when the kernel ends, or the supervisor is told to stop (SIGTERM, SIGHUP,
the grader's death), it kills what is left of the kernel's process group and, for a
kernel with its own user id, every process of that user.

Run as a script, ``python -I -S supervisor.py [--uid N] [--limit NAME=VALUE ...] --
COMMAND ...``, with the standard library only (it starts before anything is imported).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
import threading
import time

LIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


class _Stop(Exception):
    pass


def _prctl(option: int, value: int) -> bool:
    """Linux's prctl; False elsewhere or when refused."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except OSError:
        return False


def _as_user(uid: int) -> None:
    """Become ``uid`` for good (no groups, no way back to privileges); refuse root."""
    if uid <= 0:
        raise ValueError(f"refusing to run a kernel as user id {uid}")
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise OSError(f"could not become user id {uid}")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _start(command: list[str], uid: int | None, limits: dict[int, int]) -> int:
    """Fork the kernel in a session of its own; its pid."""
    supervisor = os.getpid()
    child = os.fork()
    if child:
        return child
    try:
        os.setsid()
        for which, value in limits.items():
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass  # a limit this system does not enforce (RLIMIT_AS on macOS)
        if uid is not None:
            _as_user(uid)
        # After the change of user, which clears it.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != supervisor:
            os._exit(1)  # the supervisor died before the signal was set up
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        os.execvp(command[0], command)
    except BaseException as error:
        os.write(2, f"autograder supervisor: cannot start the kernel: {error}\n".encode())
    os._exit(127)


def _clean_up(child: int, uid: int | None) -> None:
    """Kill what is left of the kernel: its process group, and every process of its user."""
    try:
        os.killpg(child, signal.SIGKILL)
    except OSError:
        pass
    if uid is None:
        return
    helper = os.fork()
    if helper == 0:
        try:
            _as_user(uid)
            if os.getuid() == uid > 0:  # never as anyone else: -1 means every process
                os.kill(-1, signal.SIGKILL)
        except BaseException:
            pass
        os._exit(0)
    os.waitpid(helper, 0)


def _watch_parent(parent: int) -> None:
    """Stop when the grader is gone (where no parent-death signal exists)."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    uid, limits = None, {}
    while argv and argv[0] != "--":
        option = argv.pop(0)
        if option == "--uid":
            uid = int(argv.pop(0))
        elif option == "--limit":
            name, value = argv.pop(0).split("=")
            limits[LIMITS[name]] = int(value)
        else:
            raise SystemExit(f"autograder supervisor: unknown option {option}")
    command = argv[1:]
    if not command:
        raise SystemExit("autograder supervisor: no command")
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader (the grader starts it in a new session)

    child = 0

    def stop(signum, frame):
        raise _Stop

    def interrupt(signum, frame):
        if child:  # an interrupt is the kernel's (jupyter_client's signal mode)
            try:
                os.killpg(child, signal.SIGINT)
            except OSError:
                pass

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    signal.signal(signal.SIGINT, interrupt)
    parent = os.getppid()
    if not _prctl(PR_SET_PDEATHSIG, signal.SIGTERM):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the grader died before the signal was set up
        return 1
    child = _start(command, uid, limits)
    status = 1
    try:
        while True:
            pid, wait_status = os.waitpid(child, 0)
            if pid == child:
                break
        status = os.waitstatus_to_exitcode(wait_status)
        status = 128 - status if status < 0 else status
    except _Stop:
        status = 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _clean_up(child, uid)
        if status == 128 + signal.SIGTERM:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
