"""A warm kernel parent ("zygote"): imports the course's libraries once, forks kernels.

Starting a Jupyter kernel from scratch costs about two seconds of CPU before the first
cell runs: the interpreter, ipykernel, NumPy, SciPy, Matplotlib and its font list. This
process pays that once per grading run. It runs inside the grading sandbox (bubblewrap:
no network, its own process tree, the course and the submissions hidden) as root with
only the capabilities it needs to hand out user ids, listens on a unix socket for
requests from the grader, and answers each ``spawn`` by forking a child that

* starts a new session, joins the kernel's memory cgroup if it was given one, and enters
  new pid and mount namespaces: it becomes a small init (pid 1) that reaps, and dies
  with its parent, so that when it ends every process the kernel started ends too, and
  it mounts a private ``/tmp`` and a ``/proc`` that shows only the kernel's processes;
* forks the kernel (pid 2), which lowers its resource limits (memory, CPU, file size,
  processes), drops every capability from its bounding set, takes the unprivileged
  user id it was given (a new one per kernel, so kernels cannot signal or read each
  other), sets ``no_new_privs`` and a private umask;
* moves into its own scratch working directory with a private home and temp folder;
* reseeds Python's and NumPy's random generators (a fork copies their state);
* and becomes the ipykernel the kernel spec names, on the connection file it was given.

The file runs as a script (``python zygote.py SOCKET``), not as part of the ``autograder``
package: the sandbox hides the course root, so only this file is bound in. Requests are
one JSON line per connection, answered with one JSON line:

* ``{"op": "spawn", "argv": [...], "uid": N, "cwd": ..., "env": {...}, "log": ...,
  "limits": {...}}`` → ``{"pid": P}``
* ``{"op": "poll", "pid": P}`` → ``{"exit": None}`` while running, else the exit code
* ``{"op": "signal", "pid": P, "signal": S}`` → ``{}``
* ``{"op": "kill", "pid": P}`` → ``{}``: the kernel and everything in its namespaces
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys

#: Imported once here, inherited by every kernel. A module that fails to import is
#: skipped: the kernel imports it itself (and reports the error) if a notebook needs it.
#: Left out on purpose: modules that hook into the IPython shell when first imported
#: (Matplotlib's inline backend, ipywidgets), since there is no shell here yet; each
#: kernel imports them itself, as a kernel started from scratch would.
PRELOAD = (
    "numpy",
    "numpy.linalg",
    "numpy.testing",
    "scipy.integrate",
    "scipy.optimize",
    "scipy.special",
    "scipy.stats",
    "matplotlib",
    "matplotlib.font_manager",
    "matplotlib.pyplot",
    "IPython",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "ipykernel.ipkernel",
    "ipykernel.kernelapp",
    # ipykernel imports its debugger (debugpy, some 150 modules) while it starts: a
    # quarter of a second of every kernel's start. Imported here, it starts no thread.
    "ipykernel.debugger",
    "tornado.platform.asyncio",
    "course",
    "course.checks",
    "course.data",
    "course.plots",
    "cloudpickle",
)
LIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "file_bytes": resource.RLIMIT_FSIZE,
    "processes": resource.RLIMIT_NPROC,
}
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
MNT_DETACH = 2
LAST_CAPABILITY = 63
#: Kernels never run as root or as a system account.
MIN_UID = 1000


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # the kernel will report it if it matters
            continue


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount_point(path: str, *, directory: bool) -> None:
    """Make ``path`` (in the new /tmp) to bind onto, its folders enterable by everyone."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _mount_point(parent, directory=True)
    if directory:
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
    elif not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def enter_namespaces(request: dict) -> None:
    """In the forked child, as root: the kernel's cgroup, new pid and mount namespaces,
    a private /tmp and a view of the scratch folder with only the kernel's own two
    folders in it. Returns in the kernel (pid 2 of the new pid namespace); the namespace's
    init (pid 1) and the process that waits for it never return."""
    libc = _libc()
    cgroup = request.get("cgroup")
    if cgroup:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    _check(libc.unshare(CLONE_NEWPID | CLONE_NEWNS), "unshare")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate")
    if cgroup:  # joined: the kernel has no business seeing it
        libc.umount2(os.fsencode(cgroup), MNT_DETACH)
    keep = [os.open(path, os.O_PATH | os.O_DIRECTORY) for path in request["keep"]]
    show = [os.open(path, os.O_PATH) for path in request.get("show", [])]
    size = f"size={request.get('tmp_bytes', 256 * 1024**2)},mode=1777".encode()
    _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, size), "mount /tmp")
    for descriptor, path in zip(show, request.get("show", []), strict=True):
        _mount_point(path, directory=os.path.isdir(f"/proc/self/fd/{descriptor}"))
        source = f"/proc/self/fd/{descriptor}".encode()
        _check(libc.mount(source, os.fsencode(path), None, MS_BIND | MS_REC, None), "bind")
        os.close(descriptor)
    scratch = request["scratch"]
    if not (scratch + "/").startswith("/tmp/"):  # else the new /tmp already covers it
        _check(libc.mount(b"tmpfs", os.fsencode(scratch), b"tmpfs", MS_NOSUID, None), "hide")
    os.makedirs(scratch, exist_ok=True)
    os.chmod(scratch, 0o711)
    for descriptor, path in zip(keep, request["keep"], strict=True):
        os.makedirs(path, exist_ok=True)
        source = f"/proc/self/fd/{descriptor}".encode()
        _check(libc.mount(source, os.fsencode(path), None, MS_BIND | MS_REC, None), "bind")
        os.close(descriptor)
    alive_read, alive_write = os.pipe()  # open in the parent as long as it lives
    init = os.fork()
    if init:  # still outside the new pid namespace: wait for its init, end as it ends
        os.close(alive_read)
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    # pid 1 of the new namespace: dies with its parent (the grader's handle on it). Its
    # parent is outside the namespace (getppid() says 0): the pipe tells whether it
    # died before the death signal was armed.
    os.close(alive_write)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if select.select([alive_read], [], [], 0)[0]:  # end of file: the parent is gone
        os._exit(1)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
    kernel = os.fork()
    if kernel == 0:
        return
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while True:  # reap every orphan; end with the kernel
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def namespaces_work() -> bool:
    """Whether this process may give each kernel its own namespaces (it needs
    CAP_SYS_ADMIN, which the grader grants it where bubblewrap runs as root)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            libc = _libc()
            _check(libc.unshare(CLONE_NEWPID | CLONE_NEWNS), "unshare")
            _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private")
            _check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None), "tmpfs")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def become_kernel(request: dict) -> None:
    """In the forked child: lock down, then run the kernel. Never returns."""
    os.setsid()
    if request.get("namespaces"):
        enter_namespaces(request)
    for name, value in request["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = _libc()
    for capability in range(LAST_CAPABILITY + 1):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    uid = request["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    os.umask(0o077)
    os.chdir(request["cwd"])
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(log)
    os.close(null)
    os.environ.clear()
    os.environ.update(request["env"])
    for variable in ("HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        if variable in request["env"]:
            os.makedirs(request["env"][variable], mode=0o700, exist_ok=True)
    import random
    import tempfile

    random.seed()
    tempfile.tempdir = None
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    argv = request["argv"]
    # The kernel spec's command: python -m ipykernel_launcher -f CONNECTION_FILE ...
    if argv[1:3] != ["-m", "ipykernel_launcher"]:
        raise ValueError(f"not an ipykernel command line: {argv}")
    sys.argv = [argv[0], *argv[3:]]
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv[3:])


def spawn(request: dict, *sockets: socket.socket) -> int:
    """Fork a kernel; the child closes ``sockets`` (the grader's) before anything else."""
    pid = os.fork()
    if pid:
        return pid
    status = 0
    try:
        for open_socket in sockets:
            open_socket.close()
        become_kernel(request)
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException as error:  # the child must never return
        try:
            os.write(2, f"kernel failed to start: {type(error).__name__}: {error}\n".encode())
        finally:
            status = 70
    finally:
        os._exit(status)
    return 0  # unreachable


def serve(path: str) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    exits: dict[int, int] = {}
    children: set[int] = set()
    print("ready namespaces" if namespaces_work() else "ready", flush=True)
    while True:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            children.discard(pid)
            exits[pid] = os.waitstatus_to_exitcode(status)
        ready, _, _ = select.select([server], [], [], 0.05)
        if not ready:
            continue
        connection, _ = server.accept()
        with connection:
            _, peer_uid, _ = struct.unpack(
                "3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            )
            if peer_uid != 0:  # only the grader (root) may ask; never a kernel
                continue
            try:
                request = json.loads(connection.makefile("r").readline())
                reply = handle(request, (server, connection), children, exits)
            except Exception as error:  # answer, do not die
                reply = {"error": f"{type(error).__name__}: {error}"}
            connection.sendall(json.dumps(reply).encode() + b"\n")


def handle(request: dict, sockets, children: set[int], exits: dict[int, int]) -> dict:
    op = request["op"]
    if op == "spawn":
        if int(request["uid"]) < MIN_UID:
            raise ValueError(f"refusing to start a kernel as user id {request['uid']}")
        pid = spawn(request, *sockets)
        children.add(pid)
        return {"pid": pid}
    pid = int(request["pid"])
    if op == "poll":
        return {"exit": None if pid in children else exits.get(pid, -1)}
    if op == "signal":
        if pid in children:
            try:
                os.killpg(pid, int(request["signal"]))
            except OSError:
                os.kill(pid, int(request["signal"]))
        return {}
    if op == "kill":  # its namespace's init dies with it, and with that init everything
        if pid in children:
            os.kill(pid, signal.SIGKILL)
        return {}
    raise ValueError(f"unknown request {op!r}")


if __name__ == "__main__":
    preload()
    serve(sys.argv[1])
