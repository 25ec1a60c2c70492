"""envs/*.yaml (conda, for cluster users) pin exactly what pyproject.toml pins."""

import tomllib

import pytest
import yaml

from conftest import REPO

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def pyproject_pins(extras: str = "") -> dict[str, str]:
    """Exact pins of the core dependencies plus `extras` (comma-separated, ``unix-cxr[...]`` followed)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    specs, todo, seen = list(project["dependencies"]), [e for e in extras.split(",") if e], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        assert extra in optional, f"pyproject.toml has no extra {extra!r}"
        for spec in optional[extra]:
            if spec.startswith("unix-cxr["):
                todo += spec[len("unix-cxr["):-1].split(",")
            else:
                specs.append(spec)
    pins = {}
    for spec in specs:
        name, _, version = spec.partition("==")
        assert version, f"pyproject.toml: {spec!r} is not an exact pin"
        assert pins.get(name.lower(), version) == version, f"pyproject.toml pins {name} twice for [{extras}]"
        pins[name.lower()] = version
    return pins


def env_extras(path) -> str:
    """The extras an env file installs the project with (``-e ..[evaluation]`` -> ``evaluation``)."""
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    item = next(i for i in pip if i.startswith("-e .."))
    return item.partition("[")[2].rstrip("]")


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
    expected = pyproject_pins(env_extras(path))
    for name, version in env_pins(path).items():
        assert name in expected, f"{path.name} pins {name}, which pyproject.toml does not list for [{env_extras(path)}]"
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
