"""envs/*.yaml (conda, for cluster users) pin exactly what pyproject.toml pins."""

import tomllib

import pytest
import yaml

from conftest import REPO

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    pins = {}
    for spec in specs:
        if spec.startswith("unix-cxr"):
            continue
        name, _, version = spec.partition("==")
        assert version, f"pyproject.toml: {spec!r} is not an exact pin"
        pins[name.lower()] = version
    return pins


def env_pins(path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e ") or item in ("pip",) or item.startswith("python="):
                continue
            name, _, version = item.partition("==")
            assert version, f"{path.name}: {item!r} is not pinned"
            pins[name.lower()] = version
    return pins


def test_there_is_an_env_per_rule_family():
    assert {p.stem for p in ENV_FILES} >= {"data", "cleaning", "model", "evaluation", "tables"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    expected = pyproject_pins()
    for name, version in env_pins(path).items():
        assert name in expected, f"{path.name} pins {name}, which pyproject.toml does not list"
        assert version == expected[name], f"{path.name}: {name}=={version} but pyproject.toml pins {expected[name]}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_the_project(path):
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any(item.startswith("-e ..") for item in pip), f"{path.name} does not install the project"


def test_python_version_matches():
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    for path in ENV_FILES:
        deps = yaml.safe_load(path.read_text())["dependencies"]
        assert "python=3.11" in deps and "<3.12" in requires and ">=3.11" in requires


def test_every_env_carries_the_core_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {spec.partition("==")[0].lower() for spec in project["dependencies"]}
    for path in ENV_FILES:
        missing = core - set(env_pins(path))
        assert not missing, f"{path.name} lacks the core pins {sorted(missing)}"
