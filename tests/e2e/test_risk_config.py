"""Risk limits from the config file: `ems serve --config` with per-session and
per-symbol `[risk]` tables refuses orders over them with the typed reason; a misspelt
limit stops the server at start, naming the key."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, start_session
from tests.harness import Api, Process

SESSION = f"cfg-{uuid.uuid4().hex[:8]}"
KEY = "cfg-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[Api]:
    path = tmp_path_factory.mktemp("risk-config") / "ems.toml"
    path.write_text(
        f"""
[risk]
maxOrderQty = 1
[risk.sessions.{SESSION}]
maxOrderQty = 0.01
maxWorkingOrders = 2
[risk.sessions.{SESSION}.symbols.BTCUSDT]
maxOrderQty = 0.002
"""
    )
    process = Process(
        [
            "serve",
            "--key",
            KEY,
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            "none",
            "--config",
            str(path),
        ],
        logs_dir / "ems-risk-config.log",
    )
    yield Api(process.info["url"], KEY)
    process.stop()


def _buy(m: Market, qty: float, ticks_below: int = 300) -> dict[str, Any]:
    bid, _ = m.best()
    code, body = m.send(clOrderId=m.cl(), transactionType="insert", side="buy",
                        price=m.price(bid - ticks_below * m.tick), qty=qty)  # fmt: skip
    assert code == 200, body
    return dict(body)


def test_config_file_limits_per_session_and_symbol_refuse_orders_with_typed_reasons(
    configured: Api, sim: dict[str, Any]
):
    m = start_session(configured, sim, "binance-spot", SESSION)
    ws = m.stream()
    try:
        over_symbol = _buy(m, 0.003)  # under the session's 0.01, over BTCUSDT's 0.002
        assert over_symbol["orderStatus"] == "rejected"
        assert over_symbol["riskReason"] == "QuantityAboveMaximum"
        assert "0.002" in over_symbol["message"]
        within = _buy(m, 0.002)
        ws.wait(lambda f: f.get("clOrderId") == within["clOrderId"] and f["orderStatus"] == "new")
        second = _buy(m, 0.001, ticks_below=301)
        ws.wait(lambda f: f.get("clOrderId") == second["clOrderId"] and f["orderStatus"] == "new")
        third = _buy(m, 0.001, ticks_below=302)  # the session's maxWorkingOrders is 2
        assert third["riskReason"] == "TooManyWorkingOrders"
        _, listed = configured.get("/riskLimits", sessionId=SESSION)
        assert listed["default"]["maxOrderQty"] == 1
        assert listed["configured"]["*"]["maxOrderQty"] == 0.01
        assert listed["configured"]["BTCUSDT"]["maxOrderQty"] == 0.002
        # The REST endpoint replaces the configured limits of that symbol.
        code, _ = configured.post(
            "/setRiskLimits", {"sessionId": SESSION, "symbol": "BTCUSDT", "maxOrderQty": 0.005}
        )
        assert code == 200
        m.send(transactionType="pull")
        ws.wait(lambda f: f.get("clOrderId") == second["clOrderId"]
                and f["orderStatus"] == "cancelled")  # fmt: skip
        bigger = _buy(m, 0.004)
        ws.wait(lambda f: f.get("clOrderId") == bigger["clOrderId"] and f["orderStatus"] == "new")
        assert_matches_venue(m)
    finally:
        ws.close()
        m.send(transactionType="pull")


def test_a_misspelt_limit_in_the_config_file_stops_the_server_naming_the_key(tmp_path: Path):
    path = tmp_path / "ems.toml"
    path.write_text(f'key = "{KEY}"\n[risk.sessions.a.symbols.BTCUSDT]\nmaxOrderQtty = 1\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ems.cli",
            "serve",
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            "none",
            "--config",
            str(path),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"risk.sessions.a.symbols.BTCUSDT.maxOrderQtty" in done.stderr
    assert b"unknown risk limit" in done.stderr
    assert done.stdout == b""
