import pytest

from ems.config import ConfigError, load


def test_defaults_follow_the_seed(tmp_path):
    cfg = load(["--key", "k"], {})
    assert (cfg.port, cfg.promPort, cfg.host, cfg.testnet, cfg.debug) == (
        35027,
        9091,
        "127.0.0.1",
        False,
        False,
    )


def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    path = tmp_path / "ems.toml"
    path.write_text('key = "file-key"\nport = 1111\npromPort = 2222\nhost = "0.0.0.0"\n')
    env = {"EMS_CONFIG": str(path), "EMS_PORT": "3333", "EMS_TESTNET": "true"}
    cfg = load(["--port", "4444"], env)
    assert cfg.port == 4444  # flag
    assert cfg.testnet is True  # environment
    assert cfg.promPort == 2222 and cfg.host == "0.0.0.0" and cfg.key == "file-key"  # file
    assert cfg.debug is False  # default


def test_missing_key_is_refused():
    with pytest.raises(ConfigError, match="--key is required"):
        load([], {})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMS_PORT": "http"}, "EMS_PORT must be an integer"),
        ({"EMS_PORT": "70000"}, "port number"),
        ({"EMS_DEBUG": "maybe"}, "EMS_DEBUG must be a boolean"),
    ],
)
def test_bad_values_name_their_source(env, message):
    with pytest.raises(ConfigError, match=message):
        load(["--key", "k"], env)


def test_unknown_file_setting_is_refused(tmp_path):
    path = tmp_path / "ems.toml"
    path.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown settings"):
        load(["--key", "k", "--config", str(path)], {})


def test_repr_hides_the_key():
    cfg = load(["--key", "super-secret-key"], {})
    assert "super-secret-key" not in repr(cfg)


def test_cpu_lists_parse_and_bad_ones_are_refused():
    from ems.config import parse_cpus

    assert parse_cpus("2") == {2}
    assert parse_cpus("1,3-5") == {1, 3, 4, 5}
    with pytest.raises(ConfigError, match="--cpus"):
        load(["--key", "k", "--cpus", "two"], {})
    assert load(["--key", "k", "--spin"], {}).spin is True
    assert load(["--key", "k"], {"EMS_CPUS": "0-1"}).cpus == "0-1"


def test_journal_settings_and_secret_hiding():
    cfg = load(["--key", "k", "--journal", "/tmp/x.db", "--secrets-key", "s3cr3t-value"], {})
    assert cfg.journal == "/tmp/x.db" and cfg.secrets_key == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(cfg)
    assert load(["--key", "k"], {"EMS_SECRETS_KEY": "e"}).secrets_key == "e"
