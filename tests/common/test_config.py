from pathlib import Path

import pytest

from jobs.common.config import REPO_ROOT, deep_merge, load_settings


def test_layers_apply_in_order_base_env_file_then_variables(tmp_path: Path) -> None:
    base = load_settings("local", environ={"DETAK_HOME": str(tmp_path)})
    ci = load_settings(
        "ci",
        environ={
            "DETAK_HOME": str(tmp_path),
            "DETAK__SPARK__SHUFFLE_PARTITIONS": "5",
            "DETAK__INGEST__SOURCES": "[search]",
        },
    )
    assert base["spark"]["shuffle_partitions"] == 8  # base.yaml
    assert base["spark"]["master"] == "local[*]"  # local.yaml
    assert ci["spark"]["master"] == "local[2]"  # ci.yaml over base
    assert ci["spark"]["shuffle_partitions"] == 5  # variable over ci.yaml
    assert ci["ingest"]["sources"] == ["search"]  # YAML-parsed variable
    assert ci["ingest"]["max_line_bytes"] == 65536  # untouched base value


def test_home_and_repo_are_expanded(tmp_path: Path) -> None:
    conf = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)})
    assert conf.path("lake") == tmp_path / "lake"
    assert conf["spark"]["ivy_cache"] == str(REPO_ROOT / ".cache" / "ivy")
    default = load_settings("ci", environ={})
    assert default.path("landing") == REPO_ROOT / "var" / "landing"


def test_unknown_environment_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="DETAK_ENV='nope'"):
        load_settings("nope", environ={"DETAK_HOME": str(tmp_path)})


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 3}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": 3,
    }
