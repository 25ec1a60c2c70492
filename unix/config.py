"""Loading and validating the pipeline configuration outside Snakemake.

The workflow validates `config.yaml` with `snakemake.utils.validate` against the same schema
(`unix/schemas/config.schema.yaml`); this module gives the command-line tools and tests the same
check, with error messages that name the offending key as a dotted path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMA_PATH = SCHEMA_DIR / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


def _registry():
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.schema.yaml")):
        contents = yaml.safe_load(path.read_text())
        resources.append((path.name, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def format_error(error) -> str:
    """Render a jsonschema error as 'config key a.b.c: message' with a hint for unknown keys."""
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return (
            f"config key {key}: {error.message}. Allowed keys here: {', '.join(allowed)}. "
            "Fix the spelling or remove the key (see the comments in config.yaml)."
        )
    if error.validator == "required":
        return f"config key {key}: {error.message}. Add it (see config.yaml for its meaning and default)."
    return f"config key {key}: {error.message}"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a config mapping against the project schema; raise ConfigError naming every bad key."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = Draft202012Validator(schema, registry=_registry())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(format_error(e) for e in errors))
    return config


def load_config(path: str | Path = "config.yaml", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, apply nested overrides, validate, and return it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; pass the path of the project's config.yaml")
    config = yaml.safe_load(path.read_text()) or {}
    if overrides:
        config = merge(config, overrides)
    return validate_config(config)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `base` with `overrides` merged in recursively (override wins)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def get(config: dict[str, Any], dotted: str) -> Any:
    """Look up a dotted key ('data.synthetic.seed'); raise ConfigError naming it when absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"config key {dotted} is missing (stopped at '{part}')")
        node = node[part]
    return node
