"""A memory cgroup per kernel: a memory limit that counts every page a kernel holds.

The address-space limit (``RLIMIT_AS``) does not count pages outside a process's
address space: a ``memfd`` or a file in a RAM-backed ``/tmp`` can hold gigabytes under
it. A memory cgroup counts those too (they are charged to the cgroup of the process that
touched them), and the kernel's out-of-memory killer enforces the limit.

Machines differ: a cgroup v2 hierarchy with the memory controller delegated, a v1
``memory`` hierarchy (this development machine mounts v1 controllers beside an empty
v2 one), or neither (macOS, unprivileged containers). :meth:`MemoryCgroups.create`
looks, uses what works, and :meth:`~MemoryCgroups.describe` says which, so the summary
can say what was enforced.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, file system type, super options) of every mount, from mountinfo."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3:
            found.append((fields[4].replace("\\040", " "), tail[0], tail[2]))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per hierarchy: ``{"memory": "/a/b", "": "/c"}`` ("" is v2)."""
    found = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                found[controller] = parts[2]
    return found


def _v1_memory_folder() -> Path | None:
    path = _own_cgroups().get("memory")
    if path is None:
        return None
    for mount, kind, options in _mounts():
        if kind == "cgroup" and "memory" in options.split(","):
            return Path(mount + path)
    return None


def _v2_folder() -> Path | None:
    path = _own_cgroups().get("")
    if path is None:
        return None
    for mount, kind, _ in _mounts():
        if kind == "cgroup2":
            return Path(mount + path)
    return None


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


@dataclass
class MemoryCgroups:
    """The run's folder of per-kernel memory cgroups, or nothing where none can be made."""

    version: int = 0  # 2, 1, or 0 when memory cgroups are not available
    folder: Path | None = None  # the run's cgroup, holding one cgroup per kernel
    limit: int = 0

    @classmethod
    def create(cls, limit: int) -> MemoryCgroups:
        """A folder of cgroups for this run, under the grader's own cgroup."""
        if os.geteuid() != 0:
            return cls()
        name = f"autograder-{os.getpid()}-{secrets.token_hex(4)}"
        parent = _v2_folder()
        if parent is not None and _v2_usable(parent):
            folder = parent / name
            try:
                folder.mkdir()
                _write(folder / "cgroup.subtree_control", "+memory")
                return cls(version=2, folder=folder, limit=limit)
            except OSError:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        parent = _v1_memory_folder()
        if parent is not None and (parent / "memory.limit_in_bytes").exists():
            folder = parent / name
            try:
                folder.mkdir()
                return cls(version=1, folder=folder, limit=limit)
            except OSError:
                pass
        return cls()

    def describe(self) -> str:
        if not self.version:
            return "address space only (memfd and tmpfs pages not counted: no memory cgroup)"
        return f"every page counted (a memory cgroup per kernel, cgroup v{self.version})"

    def make(self, key: str) -> Path | None:
        """A new cgroup limited to :attr:`limit` bytes, or None (limits only)."""
        if self.folder is None:
            return None
        group = self.folder / key
        try:
            group.mkdir()
            if self.version == 2:
                _write(group / "memory.max", str(self.limit))
                with contextlib.suppress(OSError):
                    _write(group / "memory.swap.max", "0")
            else:
                _write(group / "memory.limit_in_bytes", str(self.limit))
                with contextlib.suppress(OSError):  # swap accounting may be off
                    _write(group / "memory.memsw.limit_in_bytes", str(self.limit))
            return group
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            return None

    @staticmethod
    def out_of_memory(group: Path | None) -> bool:
        """Whether the out-of-memory killer acted in ``group``."""
        if group is None:
            return False
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (group / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        return False

    @staticmethod
    def remove(group: Path | None, seconds: float = 5) -> None:
        """Remove ``group`` once its processes are gone (they are being killed)."""
        if group is None:
            return
        deadline = time.monotonic() + seconds
        while True:
            try:
                group.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    def close(self) -> None:
        if self.folder is not None:
            for group in list(self.folder.glob("*/")):
                if group.is_dir() and (group / "cgroup.procs").exists():
                    self.remove(group)
            self.remove(self.folder)


def _v2_usable(folder: Path) -> bool:
    try:
        return "memory" in (folder / "cgroup.controllers").read_text().split()
    except OSError:
        return False
