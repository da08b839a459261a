"""Experiments: a YAML file plus `key=value` overrides, expanded into trials over its axes.

    name: context_bench     # the run's name
    trial: eval             # what one trial does (glyph_dist.runner.run.TRIAL_KINDS)
    axes:                   # the matrix: every combination is one trial
      dataset: [agent_logs, public_dialog]
      budget: [256, 512]
    params: {split: test}   # the same for every trial
    resources: {cpu: 1, gpu: 0}   # per trial
    max_concurrent: 2
    out: reports/phase5     # where the trial kind writes its outputs
    report: docs/PHASE-5-RESULTS.md   # the results document (optional)
    aliases: {dataset: {both: [agent_logs, public_dialog]}}   # named value lists of an axis (optional)
    switches: {big: {budget: [1024, 2048]}}   # named override sets, turned on by `+big=true` (optional)
    tracking: mlflow        # none (the default), mlflow or tensorboard (glyph_dist.runner.tracking)
    tracking_uri: null      # the tracking store; null: under the run directory

An override names an axis (`budget=512`, `seed='[1337]'`; an alias such as `dataset=both` stands for
its list), a parameter (`answerer=hf:/models/x`), a key inside a parameter's mapping
(`gate.enabled=false` when `gate` is a parameter) or a dotted key of the file (`resources.cpu=0.5`);
its value is read as YAML; a top-level key may be set when the file leaves it out (`tracking=mlflow`).
`+NAME=true` applies the switch NAME. An override that names no key of
the experiment is an error, as is a key the trial kind does not know.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path


from glyph_dist.errors import GlyphDistError
from glyph_dist.yamlconf import mapping_sections, parse_override, read_mapping, set_key

TOP_LEVEL = {"name", "trial", "axes", "params", "resources", "max_concurrent", "out", "report", "description",
             "aliases", "switches", "tracking", "tracking_uri"}
TRACKING = ("none", "mlflow", "tensorboard")


@dataclass(frozen=True)
class Experiment:
    source: str  # the file it came from
    spec: dict  # the resolved YAML, overrides applied

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def axes(self) -> dict[str, list]:
        return self.spec["axes"]

    def trials(self) -> list[dict]:
        """Every combination of the axes merged over the parameters, in a stable order."""
        names = list(self.axes)
        return [{**self.spec.get("params", {}), **dict(zip(names, values))}
                for values in itertools.product(*(self.axes[n] for n in names))]

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()[:16]


def apply_override(spec: dict, key: str, value: object, source: str) -> None:
    """Set `key` in place: an axis (a scalar or alias becomes its list); else, through the one override applier
    (`yamlconf.set_key`, sections closed to keys they lack), a parameter or a top-level key, dotted into their
    mappings (`gate.enabled`, `resources.cpu`)."""
    where = f"override {key}=...: {source}"
    axes, params = spec["axes"], spec["params"]
    if key in axes:
        aliases = spec.get("aliases", {}).get(key, {})
        axes[key] = [member for one in (value if isinstance(value, list) else [value])
                     for member in (aliases[one] if isinstance(one, str) and one in aliases else [one])]
    elif key.partition(".")[0] in params:
        set_key(params, key, value, mapping_sections(params), None, where, closed=True)
    else:
        known = sorted([*axes, *params, *TOP_LEVEL])
        set_key(spec, key, value, mapping_sections(spec), known, where, closed=True)


def apply_switch(spec: dict, name: str, value: object, source: str) -> None:
    """`+NAME=true` applies the overrides of switch NAME; `+NAME=false` leaves the experiment as it is."""
    switches = spec.get("switches") or {}
    if name not in switches:
        raise GlyphDistError(f"override +{name}=...: {source} has no switch {name!r}; "
                             f"switches: {', '.join(sorted(switches)) or 'none'}")
    if not isinstance(value, bool):
        raise GlyphDistError(f"override +{name}={value!r}: a switch is turned on with true (or off with false)")
    for key, switch_value in (switches[name].items() if value else ()):
        apply_override(spec, key, switch_value, f"{source} switch {name!r}")


def _check(spec: dict, source: str) -> None:
    unknown = set(spec) - TOP_LEVEL
    if unknown:
        raise GlyphDistError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    for key in ("name", "trial", "axes"):
        if key not in spec:
            raise GlyphDistError(f"{source}: missing key {key!r}")
    if not isinstance(spec["axes"], dict) or not spec["axes"]:
        raise GlyphDistError(f"{source}: 'axes' must map axis names to lists of values")
    for axis, values in spec["axes"].items():
        if not isinstance(values, list) or not values:
            raise GlyphDistError(f"{source}: axis {axis!r} must be a non-empty list")
    overlap = set(spec["axes"]) & set(spec.get("params") or {})
    if overlap:
        raise GlyphDistError(f"{source}: {', '.join(sorted(overlap))} is both an axis and a parameter")
    tracking, uri = spec.get("tracking", "none"), spec.get("tracking_uri")
    if tracking not in TRACKING:
        raise GlyphDistError(f"{source}: tracking={tracking!r} is not one of {', '.join(TRACKING)}")
    if uri is not None and (tracking == "none" or not isinstance(uri, str)):
        raise GlyphDistError(f"{source}: tracking_uri={uri!r} needs tracking=mlflow or tensorboard and a string value")


def load_experiment(path: Path | str, overrides: list[str] = ()) -> Experiment:
    path = Path(path)
    spec = copy.deepcopy(read_mapping(path, "experiment"))
    spec.setdefault("params", {})
    spec.setdefault("resources", {"cpu": 1, "gpu": 0})
    spec.setdefault("max_concurrent", 2)
    _check(spec, str(path))
    for text in overrides:
        key, value = parse_override(text)
        if key.startswith("+"):
            apply_switch(spec, key[1:], value, str(path))
        else:
            apply_override(spec, key, value, str(path))
    _check(spec, str(path))
    return Experiment(str(path), spec)
