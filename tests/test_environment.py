"""Does the Binder/conda environment ask for the same runtime packages as pyproject.toml?"""

import re
import tomllib

import yaml

from tests.conftest import ROOT


def _normalise(requirement: str) -> tuple[str, str]:
    name, bounds = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), bounds.replace(" ", "")


def test_environment_yml_matches_pyproject():
    """Does environment.yml list exactly the runtime dependencies of pyproject.toml, same bounds?"""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_normalise(r) for r in project["dependencies"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = [d for d in environment["dependencies"] if isinstance(d, str)]
    conda = dict(
        _normalise(d.replace("=", "==", 1) if re.match(r"^[\w-]+=[^=<>]", d) else d) for d in listed
    )
    conda.pop("python", None)
    conda.pop("pip", None)
    assert conda == wanted


def test_environment_yml_uses_conda_forge():
    """Does the environment resolve from conda-forge, as Binder expects?"""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
