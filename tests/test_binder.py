"""Does the repository follow repo2docker's conventions, so the Binder badge opens a working
course: environment.yml at the root, a postBuild that leaves a learner's JupyterLab, and a
badge that names a notebook that exists?"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from tests.conftest import ROOT

BADGE = re.compile(r"\[!\[Binder\]\(https://mybinder\.org/badge_logo\.svg\)\]\((?P<url>[^)\s]+)\)")
INSTRUCTOR_PLUGINS = {
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
}
INSTRUCTOR_SERVER_EXTENSIONS = {
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
}
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
VALIDATE_SERVER_EXTENSION = "nbgrader.server_extensions.validate_assignment"

# The jupyter commands postBuild calls, run from the throwaway prefix's Python.
_ENTRY_POINTS = {
    "jupyter": "jupyter_core.command",
    "jupyter-labextension": "jupyterlab.labextensions",
    "jupyter-server": "jupyter_server.serverapp",
}
# `python -m pip ...` is recorded instead of run: installing needs the network.
_PYTHON_SHIM = """#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  printf '%s\\n' "$*" >> "{log}"
  exit 0
fi
exec "{python}" "$@"
"""


def badge_targets(readme: str) -> list[tuple[str, str]]:
    """Every Binder badge of a README: ``(url, path the badge opens)``."""
    targets = []
    for match in BADGE.finditer(readme):
        url = match.group("url")
        urlpath = parse_qs(urlparse(url).query).get("urlpath", [""])[0]
        targets.append((url, urlpath.removeprefix("lab/tree/")))
    return targets


def run_post_build(repository: Path, base: Path) -> tuple[Path, list[str]]:
    """Run ``repository``'s postBuild as Binder would, against a throwaway Python prefix.

    The prefix is a virtual environment that sees this environment's packages and starts
    with a copy of its Jupyter configuration (what installing nbgrader and JupyterLab put
    there), so postBuild's ``--sys-prefix`` changes land in ``<prefix>/etc/jupyter`` and
    nothing outside ``base`` is touched. Returns the prefix and the recorded pip calls.
    """
    prefix, bin_dir, log = base / "prefix", base / "bin", base / "pip.log"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix], check=True)
    python = prefix / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "outer-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    shutil.copytree(Path(sys.prefix) / "etc" / "jupyter", prefix / "etc" / "jupyter")
    bin_dir.mkdir()
    for name, module in _ENTRY_POINTS.items():
        script = bin_dir / name
        script.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        script.chmod(0o755)
    (bin_dir / "python").write_text(_PYTHON_SHIM.format(log=log, python=python))
    (bin_dir / "python").chmod(0o755)
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [repository / "postBuild"], cwd=repository, env=environment,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"postBuild failed:\n{result.stdout}\n{result.stderr}"
    return prefix, log.read_text().splitlines() if log.exists() else []


def _jupyter(base: Path, *arguments: str) -> str:
    """What a ``jupyter`` command says about the prefix :func:`run_post_build` set up in
    ``base`` (this environment's lab extensions are on its path)."""
    bin_dir = base / "bin"
    result = subprocess.run(
        [bin_dir / "jupyter", *arguments],
        env={**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
             "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def test_repo2docker_reads_the_root():
    """Does repo2docker build from the root files (no binder/ folder that would hide them)?"""
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    assert (ROOT / "environment.yml").is_file() and (ROOT / "postBuild").is_file()


def test_environment_yml_is_a_conda_environment():
    """Does environment.yml parse, pin the Python Binder runs, and install pip for postBuild?"""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert isinstance(environment["name"], str) and environment["name"]
    listed = [d for d in environment["dependencies"] if isinstance(d, str)]
    assert "pip" in listed
    assert [d for d in listed if re.fullmatch(r"python=3\.1\d", d)], "no python=3.1x pin"


def test_readme_binder_badge_opens_a_release_notebook():
    """Does every Binder badge in the README open a student notebook that exists, in JupyterLab?"""
    targets = badge_targets((ROOT / "README.md").read_text())
    assert targets, "README.md has no Binder badge"
    for url, path in targets:
        assert url.startswith("https://mybinder.org/v2/gh/"), url
        assert "urlpath=lab/tree/" in url, f"{url} does not open JupyterLab on a file"
        assert path.startswith("release/") and path.endswith(".ipynb"), url
        assert (ROOT / path).is_file(), f"the badge opens {path}, which does not exist"


def test_post_build_is_an_executable_bash_script():
    """Is postBuild executable and does it stop at the first failing command?"""
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & stat.S_IXUSR
    text = post_build.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text


@pytest.mark.slow
def test_post_build_leaves_a_learners_jupyterlab(tmp_path):
    """Does postBuild install the course and leave Validate on and the instructor tools off?"""
    _, pip_calls = run_post_build(ROOT, tmp_path)
    assert len(pip_calls) == 1
    assert re.search(r"\binstall\b.*--no-deps.*(--editable|-e) \.$", pip_calls[0]), pip_calls

    lab = _jupyter(tmp_path, "labextension", "list")
    disabled = set(re.findall(r"^\s+(@\S+)$", lab.partition("Disabled extensions:")[2], re.M))
    assert disabled >= INSTRUCTOR_PLUGINS
    assert VALIDATE_PLUGIN not in disabled

    server = _jupyter(tmp_path, "server", "extension", "list")
    states = dict(
        re.findall(r"^\s+(nbgrader\.server_extensions\.\w+) (enabled|disabled)$", server, re.M)
    )
    assert {name: states.get(name) for name in INSTRUCTOR_SERVER_EXTENSIONS} == dict.fromkeys(
        INSTRUCTOR_SERVER_EXTENSIONS, "disabled"
    )
    assert states.get(VALIDATE_SERVER_EXTENSION) == "enabled"


@pytest.mark.slow
def test_post_build_configures_validate_and_the_server(tmp_path):
    """Does postBuild leave, on Jupyter's path, an nbgrader_config.py that makes Validate list
    a summary first (course.validate), and a server setting that serves release notebooks
    with nothing left for JupyterLab to change (course.lab.ContentsManager)?"""
    import json

    from traitlets.config.loader import PyFileConfigLoader

    from course import validate

    prefix, _ = run_post_build(ROOT, tmp_path)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(prefix / "etc" / "jupyter"))
    loaded = config.load_config()
    assert loaded.Validator.Execute.on_cell_start is validate._on_cell_start
    assert loaded.Validator.Execute.on_notebook_start is validate._on_notebook_start
    server = json.loads((prefix / "etc" / "jupyter" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["contents_manager_class"] == "course.lab.ContentsManager"
