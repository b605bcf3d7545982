"""Layered settings: ``conf/base.yaml``, then ``conf/<DETAK_ENV>.yaml``, then ``DETAK__A__B`` variables.

Paths in the files may use ``{home}`` (``DETAK_HOME``, default ``var/`` in the checkout) and
``{repo}`` (the checkout). Nothing here touches Spark or the network.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "DETAK__"


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


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__") if k]
        if not keys:
            continue
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = yaml.safe_load(raw)
    return tree


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
    tree: dict[str, Any] = yaml.safe_load(base.read_text()) or {}
    env_file = conf_dir() / f"{env}.yaml"
    if env_file.exists():
        tree = deep_merge(tree, yaml.safe_load(env_file.read_text()) or {})
    elif env != "local":
        raise FileNotFoundError(f"DETAK_ENV={env!r} but {env_file} does not exist")
    tree = deep_merge(tree, _env_overrides(environ))
    if overrides:
        tree = deep_merge(tree, overrides)
    home = Path(environ.get("DETAK_HOME") or REPO_ROOT / "var").resolve()
    tree = _expand(tree, {"home": str(home), "repo": str(REPO_ROOT)})
    return Settings(env=env, home=home, tree=tree)


@cache
def settings() -> Settings:
    """Process-wide settings from the current environment (cached; tests call ``load_settings``)."""
    return load_settings()
