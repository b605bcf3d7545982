import shutil
from pathlib import Path

import pytest
import yaml

from jobs.common.config import REPO_ROOT, ConfigError, deep_merge, load_settings
from jobs.common.errors import UserError


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
    with pytest.raises(UserError) as error:
        load_settings("nope", environ={"DETAK_HOME": str(tmp_path)})
    assert str(error.value) == (
        "DETAK_ENV='nope' has no conf file conf/nope.yaml (environments: ci, cluster, local, production)"
    )


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 3}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": 3,
    }


# ---------------------------------------------------------------------------------------------
# Validation: base.yaml is the schema of every other layer.


@pytest.mark.parametrize("env", ["local", "ci", "cluster"])
def test_the_committed_environments_validate(env: str) -> None:
    conf = load_settings(env, environ={})
    assert "_open_maps" not in conf.tree  # base.yaml's list of open mappings is no setting


@pytest.fixture
def conf_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of conf/ the test may add an environment file to."""
    folder = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf", folder)
    monkeypatch.setenv("DETAK_CONF_DIR", str(folder))
    return folder


def load_env_file(conf_dir: Path, layer: dict) -> None:
    (conf_dir / "mine.yaml").write_text(yaml.safe_dump(layer))
    load_settings("mine", environ={})


def test_an_unknown_key_in_an_environment_file_names_its_path_and_file(conf_dir: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_env_file(conf_dir, {"silver": {"late_dayz": 2}})
    assert str(error.value) == (
        f"unknown setting silver.late_dayz (in {conf_dir}/mine.yaml); did you mean silver.late_days?"
    )
    with pytest.raises(ConfigError, match=r"^unknown setting sparkk \(in .*mine.yaml\); did you mean spark\?$"):
        load_env_file(conf_dir, {"sparkk": {"master": "local[1]"}})
    with pytest.raises(ConfigError, match=r"^unknown setting gold.abandonment.model.zzz \(in .*mine.yaml\)$"):
        load_env_file(conf_dir, {"gold": {"abandonment": {"model": {"zzz": 1}}}})


def test_a_conf_file_in_the_checkout_is_named_as_such(
    conf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the checkout a file is named relative to it: conf/local.yaml, as the user edits it."""
    import jobs.common.config as config

    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)  # conf_dir is tmp_path/conf
    local = conf_dir / "local.yaml"
    local.write_text(local.read_text() + "silver:\n  late_dayz: 3\n")
    with pytest.raises(ConfigError) as error:
        load_settings("local", environ={})
    assert str(error.value) == "unknown setting silver.late_dayz (in conf/local.yaml); did you mean silver.late_days?"


def test_an_unknown_variable_names_the_variable() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings("ci", environ={"DETAK__INGEST__MAX_LINE_BYTE": "100"})
    assert str(error.value) == (
        "unknown setting ingest.max_line_byte (in DETAK__INGEST__MAX_LINE_BYTE); did you mean ingest.max_line_bytes?"
    )


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^unknown setting features.ml.horizon \(in overrides\)"):
        load_settings("ci", environ={}, overrides={"features": {"ml": {"horizon": 3}}})


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"spark": {"shuffle_partitions": "many"}},
            "setting spark.shuffle_partitions must be an integer, got 'many' (str)",
        ),
        ({"silver": {"late_days": 2.5}}, "setting silver.late_days must be an integer, got 2.5 (float)"),
        ({"silver": {"late_days": True}}, "setting silver.late_days must be an integer, got True (bool)"),
        ({"spark": {"ui": 1}}, "setting spark.ui must be a boolean (true or false), got 1 (int)"),
        ({"ingest": {"sources": "search"}}, "setting ingest.sources must be a list, got 'search' (str)"),
        ({"silver": 3}, "setting silver must be a mapping, got 3 (int)"),
        ({"silver": {"sessions": None}}, "setting silver.sessions must be a mapping, got None (NoneType)"),
        (
            {"gold": {"browsing": {"shop_timezone": 7}}},
            "setting gold.browsing.shop_timezone must be a string, got 7 (int)",
        ),
        (
            {"gold": {"abandonment": {"shipping_share_threshold": "high"}}},
            "setting gold.abandonment.shipping_share_threshold must be a number, got 'high' (str)",
        ),
    ],
)
def test_a_wrong_type_names_the_path_and_the_expected_type(conf_dir: Path, layer: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_env_file(conf_dir, layer)
    assert str(error.value) == f"{message} (in {conf_dir}/mine.yaml)"


def test_a_number_accepts_an_integer(conf_dir: Path) -> None:
    (conf_dir / "mine.yaml").write_text("gold:\n  abandonment:\n    shipping_share_threshold: 1\n")
    assert load_settings("mine", environ={})["gold"]["abandonment"]["shipping_share_threshold"] == 1


def test_a_variable_where_a_string_is_expected_keeps_its_text() -> None:
    conf = load_settings(
        "ci",
        environ={"DETAK__WAREHOUSE__POSTGRES__USER": "007", "DETAK__WAREHOUSE__POSTGRES__PORT": "6543"},
    )
    assert conf["warehouse"]["postgres"]["user"] == "007"
    assert conf["warehouse"]["postgres"]["port"] == 6543
    with pytest.raises(ConfigError, match=r"setting warehouse\.postgres\.port must be an integer, got 'x' "):
        load_settings("ci", environ={"DETAK__WAREHOUSE__POSTGRES__PORT": "x"})


def test_open_maps_take_new_keys_and_check_known_ones() -> None:
    conf = load_settings(
        "ci",
        environ={},
        overrides={
            "spark": {"conf": {"spark.sql.adaptive.enabled": "false"}},
            "gold": {"browsing": {"query_corrections": {"sepatuh": "sepatu"}}},
            "simulator": {"abandonment_causes": {"gremlins": 1}, "dirt": {"malformed_reasons": {"bad_utf8": 0.1}}},
        },
    )
    assert conf["spark"]["conf"]["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark"]["conf"]["spark.sql.session.timeZone"] == "UTC"  # merged, not replaced
    assert conf["gold"]["browsing"]["query_corrections"]["sepatuh"] == "sepatu"
    assert conf["simulator"]["abandonment_causes"]["gremlins"] == 1
    assert conf["simulator"]["dirt"]["malformed_reasons"]["bad_utf8"] == 0.1
    # A known key of an open map keeps its type; the map's closed neighbours stay closed.
    with pytest.raises(ConfigError, match=r"setting simulator\.abandonment_causes\.slow_pages must be a number"):
        load_settings("ci", environ={}, overrides={"simulator": {"abandonment_causes": {"slow_pages": "often"}}})
    with pytest.raises(ConfigError, match=r"unknown setting spark\.confs"):
        load_settings("ci", environ={}, overrides={"spark": {"confs": {"a": 1}}})


def test_open_maps_must_name_mappings_of_base_yaml(conf_dir: Path) -> None:
    base = conf_dir / "base.yaml"
    base.write_text(base.read_text().replace("  - spark.conf ", "  - spark.master ", 1))
    with pytest.raises(ConfigError) as error:
        load_settings("ci", environ={})
    assert str(error.value) == f"_open_maps names spark.master, which is not a mapping (in {base})"


def test_invalid_yaml_is_a_config_error(conf_dir: Path) -> None:
    (conf_dir / "mine.yaml").write_text("spark: [unclosed\n")
    with pytest.raises(ConfigError, match=r"mine.yaml is not valid YAML: "):
        load_settings("mine", environ={})
