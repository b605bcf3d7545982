"""Layered settings: ``conf/base.yaml``, then ``conf/<DETAK_ENV>.yaml``, then ``DETAK__A__B`` variables.

Paths in the files may use ``{home}`` (``DETAK_HOME``, default ``var/`` in the checkout) and
``{repo}`` (the checkout). Nothing here touches Spark or the network.

``base.yaml`` is also the schema of every other layer, so no default is written twice: a key must
exist in base.yaml, and its value must have the type of base.yaml's value (an integer where an
integer is, a number where a float is, a string, a boolean, a list, a mapping; null there allows
anything). The mappings named in base.yaml's ``_open_maps`` take keys of the user's own (Spark
properties, query corrections, ...). A layer that breaks these rules fails loading with a
:class:`ConfigError` naming the dotted key and where it came from.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from jobs.common.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "DETAK__"
#: base.yaml's list of the mappings whose keys are open (dotted paths); not itself a setting.
OPEN_MAPS_KEY = "_open_maps"


class ConfigError(UserError):
    """A configuration layer names a setting base.yaml does not have, or gives it the wrong type."""


def conf_dir() -> Path:
    return Path(os.environ.get("DETAK_CONF_DIR", REPO_ROOT / "conf"))


def schemas_dir() -> Path:
    return Path(os.environ.get("DETAK_SCHEMAS_DIR", REPO_ROOT / "schemas"))


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base``: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _env_layers(environ: Mapping[str, str], schema: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """One single-key layer per ``DETAK__A__B`` variable, named after it.

    A value is parsed as YAML (``5``, ``[search]``, ``false``), except where base.yaml holds a
    string: there the variable's text is the value as written (``DETAK__WAREHOUSE__POSTGRES__USER=007``).
    """
    layers = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        default: Any = schema
        for key in keys:
            default = default.get(key) if isinstance(default, Mapping) else None
        value = raw if isinstance(default, str) else yaml.safe_load(raw)
        tree: dict[str, Any] = {}
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        layers.append((name, tree))
    return layers


_TYPES: list[tuple[type | tuple[type, ...], str]] = [
    (bool, "a boolean (true or false)"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (Mapping, "a mapping"),
]


def _expected(default: Any) -> tuple[tuple[type, ...], str] | None:
    """The types a value may have where base.yaml holds ``default``, and their name (None: any)."""
    if default is None:
        return None
    for kind, label in _TYPES:
        if isinstance(default, kind):
            if kind is float:
                return (int, float), label
            return (kind if isinstance(kind, tuple) else (kind,)), label
    return (type(default),), type(default).__name__


def _check(value: Any, default: Any, path: str, open_maps: frozenset[str], source: str) -> None:
    expected = _expected(default)
    if expected is not None:
        kinds, label = expected
        # YAML's booleans are ints to Python: true is no integer, and 1 is no boolean.
        wrong_bool = isinstance(value, bool) != isinstance(default, bool)
        if not isinstance(value, kinds) or wrong_bool:
            raise ConfigError(f"setting {path} must be {label}, got {value!r} ({type(value).__name__}) (in {source})")
    if not isinstance(value, Mapping) or not isinstance(default, Mapping):
        return
    for key, sub in value.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key in default:
            _check(sub, default[key], dotted, open_maps, source)
        elif path not in open_maps:
            close = difflib.get_close_matches(str(key), [str(k) for k in default], n=1)
            hint = f"; did you mean {path + '.' if path else ''}{close[0]}?" if close else ""
            raise ConfigError(f"unknown setting {dotted} (in {source}){hint}")


def validate(layer: Mapping[str, Any], schema: Mapping[str, Any], open_maps: frozenset[str], source: str) -> None:
    """Check one layer against base.yaml (``schema``); :class:`ConfigError` at the first problem."""
    if not isinstance(layer, Mapping):
        raise ConfigError(f"{source} must hold a mapping of settings, not {type(layer).__name__}")
    _check(layer, schema, "", open_maps, source)


def _open_maps(schema: Mapping[str, Any], source: str) -> frozenset[str]:
    names = schema.get(OPEN_MAPS_KEY) or []
    for dotted in names:
        node: Any = schema
        for part in str(dotted).split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            raise ConfigError(f"{OPEN_MAPS_KEY} names {dotted}, which is not a mapping (in {source})")
    return frozenset(str(n) for n in names)


def _shown(path: Path) -> str:
    """A conf file as a person would name it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{_shown(path)} is not valid YAML: {' '.join(str(e).split())}") from e


def _expand(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, sub in variables.items():
            value = value.replace("{" + name + "}", sub)
        return value
    if isinstance(value, list):
        return [_expand(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, variables) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Settings:
    """The merged configuration tree plus where it came from."""

    env: str
    home: Path
    tree: dict[str, Any] = field(repr=False)

    def __getitem__(self, key: str) -> Any:
        return self.tree[key]

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.tree
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def path(self, name: str) -> Path:
        """A path from the ``paths`` section, e.g. ``settings.path("lake")``."""
        return Path(self.tree["paths"][name])


def load_settings(
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the layered configuration for ``env`` (default ``DETAK_ENV`` or ``local``)."""
    environ = os.environ if environ is None else environ
    env = env or environ.get("DETAK_ENV", "local")
    base = conf_dir() / "base.yaml"
    tree: dict[str, Any] = _read_yaml(base) or {}
    open_maps = _open_maps(tree, _shown(base))
    tree.pop(OPEN_MAPS_KEY, None)
    layers: list[tuple[str, Any]] = []
    env_file = conf_dir() / f"{env}.yaml"
    if env_file.exists():
        layers.append((_shown(env_file), _read_yaml(env_file) or {}))
    elif env != "local":
        known = ", ".join(sorted(p.stem for p in conf_dir().glob("*.yaml") if p.stem != "base"))
        raise ConfigError(f"DETAK_ENV={env!r} has no conf file {_shown(env_file)} (environments: {known})")
    layers += _env_layers(environ, tree)
    if overrides:
        layers.append(("overrides", overrides))
    for source, layer in layers:
        validate(layer, tree, open_maps, source)
    for _, layer in layers:
        tree = deep_merge(tree, layer)
    home = Path(environ.get("DETAK_HOME") or REPO_ROOT / "var").resolve()
    tree = _expand(tree, {"home": str(home), "repo": str(REPO_ROOT)})
    return Settings(env=env, home=home, tree=tree)


@cache
def settings() -> Settings:
    """Process-wide settings from the current environment (cached; tests call ``load_settings``)."""
    return load_settings()
