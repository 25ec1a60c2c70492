"""How config.yaml's `model:` section reaches the model, without importing torch (rules use these at
parse time, so they must stay cheap).

`model_overrides` gives the architecture and training-objective fields baked into the saved config.json;
`sampling_kwargs` and `report_kwargs` are inference settings, read by the inference rules at run time so
that changing them never retrains anything.
"""

from __future__ import annotations

from typing import Any

# config.yaml model key -> UniXConfig field (None values mean "the size preset's")
# (caption dropout and the REPA weight are training settings: config `training`, per stage)
_FIELDS = {"vae_shift": "vae_shift", "vae_scale": "vae_scale", "timestep_shift": "timestep_shift",
           "repa_layer": "repa_layer", "gen_image_size": "gen_image_size", "connector_act": "connector_act",
           "repa_interpolation": "repa_interpolation"}


def model_overrides(section: dict[str, Any]) -> dict[str, Any]:
    """UniXConfig overrides from config.yaml's `model:` section (architecture and training fields)."""
    return {field: section[key] for key, field in _FIELDS.items() if section.get(key) is not None}


def sampling_kwargs(section: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `inference.generate_images` from config.yaml's `model.sampling` (None values,
    meaning "the model config's default", are left out)."""
    s = section.get("sampling", {})
    out = {"steps": s.get("steps"), "shift": s.get("shift"), "cfg_scale": s.get("cfg_scale"),
           "cfg_interval": tuple(s["cfg_interval"]) if s.get("cfg_interval") is not None else None,
           "renorm": s.get("renorm"), "image_size": section.get("gen_image_size")}
    return {k: v for k, v in out.items() if v is not None}


def report_kwargs(section: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `inference.generate_reports` from config.yaml's `model`."""
    value = section.get("max_report_tokens")
    return {} if value is None else {"max_new_tokens": value}
