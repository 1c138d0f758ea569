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


def test_a_no_flag_turns_off_what_the_environment_or_file_turned_on(tmp_path):
    path = tmp_path / "ems.toml"
    path.write_text("debug = true\n")
    env = {"EMS_CONFIG": str(path), "EMS_TESTNET": "true", "EMS_SPIN": "true"}
    on = load(["--key", "k"], env)
    assert (on.testnet, on.debug, on.spin) == (True, True, True)
    off = load(["--key", "k", "--no-testnet", "--no-debug", "--no-spin"], env)
    assert (off.testnet, off.debug, off.spin) == (False, False, False)


def test_the_rehearsal_period_defaults_to_a_millisecond_and_zero_turns_it_off():
    assert load(["--key", "k"], {}).rehearse_us == 1000
    assert load(["--key", "k", "--rehearse-us", "0"], {}).rehearse_us == 0
    assert load(["--key", "k"], {"EMS_REHEARSE_US": "2500"}).rehearse_us == 2500
    with pytest.raises(ConfigError, match="--rehearse-us must be an integer"):
        load(["--key", "k", "--rehearse-us", "1ms"], {})


def test_the_cpu_latency_limit_is_unset_by_default_and_zero_is_a_value():
    assert load(["--key", "k"], {}).cpu_latency_us is None
    assert load(["--key", "k", "--cpu-latency-us", "0"], {}).cpu_latency_us == 0
    assert load(["--key", "k"], {"EMS_CPU_LATENCY_US": "20"}).cpu_latency_us == 20
    with pytest.raises(ConfigError, match="--cpu-latency-us must be an integer"):
        load(["--key", "k", "--cpu-latency-us", "poll"], {})


def test_missing_key_is_refused():
    with pytest.raises(ConfigError, match="--key is required"):
        load([], {})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMS_PORT": "http"}, "EMS_PORT must be an integer"),
        ({"EMS_PORT": "70000"}, "port number"),
        ({"EMS_DEBUG": "maybe"}, "EMS_DEBUG must be a boolean"),
        ({"EMS_REHEARSE_US": "-1"}, "EMS_REHEARSE_US must be a period in microseconds"),
        ({"EMS_REHEARSE_US": "500"}, r"microseconds \(1000-1000000\), or 0"),
        ({"EMS_REHEARSE_US": "1000001"}, r"microseconds \(1000-1000000\), or 0"),
        ({"EMS_PORT": "-1"}, r"port number \(0-65535\)$"),
        ({"EMS_CPU_LATENCY_US": "-1"}, r"EMS_CPU_LATENCY_US must be a latency in microseconds"),
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


RISK_TOML = """
key = "k"
[risk]
maxOrderQty = 10
[risk.sessions.alpha]
maxOrdersPerSecond = 5
maxOrderQty = 2
[risk.sessions.alpha.symbols.BTCUSDT]
maxOrderQty = 0.5
priceBandPercent = 1
[risk.sessions.alpha.symbols."BTC-USDT-SWAP"]
maxWorkingOrders = 3
"""


def test_risk_tables_per_session_and_symbol_set_the_effective_limits(tmp_path):
    from ems.engine.risk import RiskEngine, parse_risk_table

    path = tmp_path / "ems.toml"
    path.write_text(RISK_TOML)
    cfg = load(["--config", str(path)], {})
    risk = RiskEngine(table=parse_risk_table(cfg.risk))
    assert risk.default.maxOrderQty == 10
    symbol = risk.effective("alpha", "BTCUSDT")
    assert (symbol.maxOrderQty, symbol.priceBandPercent, symbol.maxOrdersPerSecond) == (0.5, 1, 5)
    other = risk.effective("alpha", "ETHUSDT")
    assert (other.maxOrderQty, other.priceBandPercent) == (2, None)
    assert risk.effective("alpha", "BTC-USDT-SWAP").maxWorkingOrders == 3
    assert risk.effective("beta", "BTCUSDT").maxOrderQty == 10  # only the default
    assert set(risk.configured("alpha")) == {"*", "BTCUSDT", "BTC-USDT-SWAP"}


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[risk]\nmaxOrderQtty = 1\n", "risk.maxOrderQtty"),
        ("[risk.sessions.a]\npriceBand = 1\n", "risk.sessions.a.priceBand"),
        ("[risk.sessions.a.symbols.X]\nmaxPositon = 1\n", "risk.sessions.a.symbols.X.maxPositon"),
        (
            "[risk.sessions.a.symbols.X]\nmaxOrderQty = -1\n",
            "risk.sessions.a.symbols.X.maxOrderQty",
        ),
        ("[risk]\nsessions = 1\n", "risk.sessions"),
    ],
)
def test_a_misspelt_or_bad_risk_key_is_refused_naming_it(tmp_path, toml, key):
    path = tmp_path / "ems.toml"
    path.write_text('key = "k"\n' + toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load(["--config", str(path)], {})
