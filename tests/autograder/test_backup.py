"""Is there always a recent copy of the gradebook, and does every refusal say where it is?"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autograder import backup
from autograder.course import CourseError, check_gradebook


def gradebook(path: Path) -> Path:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE assignment (name)")
    connection.execute("CREATE TABLE grade (comment)")
    connection.executemany("INSERT INTO grade VALUES (?)", [("a comment " * 20,)] * 500)
    connection.commit()
    connection.close()
    return path


def add(path: Path, name: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute("INSERT INTO assignment VALUES (?)", (name,))
    connection.commit()
    connection.close()


def names(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT name FROM assignment")]
    finally:
        connection.close()


def test_the_newest_three_copies_are_kept(tmp_path):
    """Backed up before each of five changes, are the newest three copies kept, each a
    readable gradebook as it was, the newest one equal to the gradebook now?"""
    path = gradebook(tmp_path / "gradebook.db")
    for name in ("ps1", "ps2", "ps3", "ps4", "ps5"):
        backup.back_up(path)
        add(path, name)
    copy = backup.back_up(path)
    kept = backup.backups(path)
    assert len(kept) == backup.KEEP and kept[-1] == copy == backup.newest(path)
    assert [names(p) for p in kept] == [
        ["ps1", "ps2", "ps3"],
        ["ps1", "ps2", "ps3", "ps4"],
        ["ps1", "ps2", "ps3", "ps4", "ps5"],
    ]
    assert all(p.parent == tmp_path / ".autograder" / "backups" for p in kept)


def test_an_unchanged_gradebook_is_not_copied_twice(tmp_path):
    """Does a run that changed nothing leave the older copies in place?"""
    path = gradebook(tmp_path / "gradebook.db")
    first = backup.back_up(path)
    add(path, "ps1")
    second = backup.back_up(path)
    assert backup.back_up(path) == second
    assert backup.backups(path) == [first, second]


def test_no_gradebook_no_copy(tmp_path):
    """Before the first run there is nothing to copy, and nothing is made."""
    assert backup.back_up(tmp_path / "gradebook.db") is None
    assert not (tmp_path / ".autograder").exists()


@pytest.mark.parametrize(
    "damage",
    [lambda data: b"", lambda data: b"hello\n", lambda data: data[: len(data) // 3]],
    ids=["empty", "not SQLite", "cut short"],
)
def test_a_damaged_gradebook_is_refused_naming_the_newest_copy(tmp_path, damage):
    """Does every refusal of a damaged gradebook say where its newest copy is?"""
    path = gradebook(tmp_path / "gradebook.db")
    for name in ("ps1", "ps2"):
        add(path, name)
        backup.back_up(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CourseError) as refused:
        check_gradebook(f"sqlite:///{path}", must_exist=True)
    message = str(refused.value)
    assert f"restore it from the newest backup, {backup.newest(path)}" in message
    assert "\n" not in message
    assert names(backup.newest(path)) == ["ps1", "ps2"]
