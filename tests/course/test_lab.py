"""Does the course's Jupyter server hand JupyterLab release notebooks with nothing to change?"""

from __future__ import annotations

import asyncio
import platform
from pathlib import Path

import nbformat

from course.lab import ContentsManager, lab_command


def _served(folder, notebook) -> dict:
    nbformat.write(notebook, folder / "notebook.ipynb")
    manager = ContentsManager(root_dir=str(folder))
    model = asyncio.run(manager.get("notebook.ipynb"))
    return model["content"]["metadata"]["language_info"]


def test_a_release_notebook_gets_the_kernels_python_version(tmp_path):
    """Does a notebook whose language_info lacks the version get the server's Python version,
    what the kernel will report, so opening it changes nothing?"""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["language_info"] = {"name": "python", "mimetype": "text/x-python"}
    info = _served(tmp_path, notebook)
    assert info == {
        "name": "python",
        "mimetype": "text/x-python",
        "version": platform.python_version(),
    }


def test_a_saved_notebook_is_served_as_it_is(tmp_path):
    """Is a notebook that already names its Python version (as JupyterLab saves it) untouched?"""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["language_info"] = {"name": "python", "version": "3.0.1"}
    assert _served(tmp_path, notebook) == {"name": "python", "version": "3.0.1"}


def test_make_lab_serves_through_it():
    """Does `make lab` (course.lab) start JupyterLab with this contents manager?"""
    command = lab_command(Path("."), "x.ipynb", "127.0.0.1", 8888, "token")
    assert "--ServerApp.contents_manager_class=course.lab.ContentsManager" in command
