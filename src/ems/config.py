"""Server settings: command-line flag > environment (`EMS_<NAME>`) > TOML file > default."""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ems.engine.risk import parse_risk_table
from ems.errors import ApiError


@dataclass(slots=True)
class Config:
    key: str = ""
    port: int = 35027
    promPort: int = 9091
    testnet: bool = False
    debug: bool = False
    host: str = "127.0.0.1"
    config: str | None = None
    cpus: str | None = None
    """CPU list the process is pinned to, e.g. "2" or "2,3" or "2-3"."""
    spin: bool = False
    """Busy-poll the event loop instead of sleeping in the kernel (burns a core)."""
    rehearse_us: int = 1000
    """Without --spin: while a trigger is armed, rehearse its trade-to-order path this
    often (µs, 1000 or more; 0 never), so that it is still in the CPU's caches when the
    trade comes."""
    cpu_latency_us: int | None = None
    """Hold the kernel's CPU latency limit (/dev/cpu_dma_latency) at this many µs while
    the process runs, so that idle CPUs wait in states they leave that fast; 0 makes
    them poll instead of halting. Unset: no limit asked for."""
    journal: str = "ems-journal.db"
    """SQLite journal file; "none" disables journaling."""
    secrets_key: str | None = None
    """Encrypts exchange secrets in the journal; without it sessions are not persisted."""
    risk: dict[str, Any] = field(default_factory=dict)
    """The config file's `[risk]` table: default limits for every session, and
    `[risk.sessions.<id>]` / `[risk.sessions.<id>.symbols.<symbol>]` tables."""

    def __repr__(self) -> str:
        # The key is a secret: never print it.
        shown = ", ".join(
            f"{f.name}={'****' if f.name in SECRET_SETTINGS else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"Config({shown})"


SECRET_SETTINGS = frozenset({"key", "secrets_key"})


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, kind: type, value: Any, source: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{name} from {source} must be a boolean, got {value!r}")
    if kind is int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} from {source} must be an integer, got {value!r}") from None
        low, high, what = _INT_RANGES.get(name, (0, 65535, "a port number"))
        if not (low <= number <= high or number == 0):
            zero = ", or 0" if low > 0 else ""
            raise ConfigError(f"{name} from {source} must be {what} ({low}-{high}){zero}")
        return number
    if not isinstance(value, str):
        raise ConfigError(f"{name} from {source} must be a string")
    return value


_INT_RANGES = {
    "rehearse_us": (1000, 1_000_000, "a period in microseconds"),
    "cpu_latency_us": (0, 1_000_000, "a latency in microseconds"),
}
"""Settings that are integers but not ports: (lowest, highest, what they are); 0 is
always allowed (a port picked by the system; no rehearsals; idle CPUs polling). The
event loop's timers count whole milliseconds, so a shorter rehearsal period would
rehearse on every turn."""

_KINDS: dict[str, type] = {
    "key": str,
    "port": int,
    "promPort": int,
    "testnet": bool,
    "debug": bool,
    "host": str,
    "config": str,
    "cpus": str,
    "spin": bool,
    "rehearse_us": int,
    "cpu_latency_us": int,
    "journal": str,
    "secrets_key": str,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ems serve", description="Run the ems API server.")
    p.add_argument("--key", help="API key every request must present (required)")
    p.add_argument("--port", help="REST and WebSocket port (default 35027)")
    p.add_argument("--promPort", help="Prometheus metrics port (default 9091)")
    # --no-testnet, --no-debug and --no-spin override a true value from the environment
    # or the config file (a flag wins over both).
    flag = argparse.BooleanOptionalAction
    p.add_argument("--testnet", action=flag, help="use venue test hosts")
    p.add_argument("--debug", action=flag, help="debug logging")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--config", help="TOML file with any of these settings")
    p.add_argument("--journal", help="journal file (default ems-journal.db; none disables)")
    p.add_argument(
        "--secrets-key",
        dest="secrets_key",
        help="key encrypting exchange secrets in the journal (or EMS_SECRETS_KEY)",
    )
    p.add_argument("--cpus", help="pin the process to these CPUs, e.g. 2 or 2,3 or 2-3")
    p.add_argument(
        "--spin",
        action=flag,
        help="busy-poll the event loop (lowest latency; burns a whole core)",
    )
    p.add_argument(
        "--rehearse-us",
        dest="rehearse_us",
        help="without --spin, while a trigger is armed, rehearse its path this often "
        "(microseconds, at least 1000, default 1000; 0 never)",
    )
    p.add_argument(
        "--cpu-latency-us",
        dest="cpu_latency_us",
        help="while running, keep every CPU in idle states it wakes from this fast "
        "(microseconds; 0 makes idle CPUs poll; needs write access to /dev/cpu_dma_latency)",
    )
    return p


def load(argv: list[str], environ: Mapping[str, str] | None = None) -> Config:
    """Resolves every setting from its highest-precedence source."""
    env = os.environ if environ is None else environ
    args = vars(parser().parse_args(argv))
    config_path = args.get("config") or env.get("EMS_CONFIG")
    file_values: dict[str, Any] = {}
    if config_path:
        try:
            with open(config_path, "rb") as fh:
                file_values = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"config file {config_path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_path}: {exc}") from None
        unknown = set(file_values) - set(_KINDS) - {"risk"}
        if unknown:
            raise ConfigError(f"config file {config_path}: unknown settings {sorted(unknown)}")
    cfg = Config()
    for name, kind in _KINDS.items():
        env_name = f"EMS_{name.upper()}"
        if args.get(name) is not None:
            setattr(cfg, name, _coerce(name, kind, args[name], "--" + name.replace("_", "-")))
        elif env_name in env:
            setattr(cfg, name, _coerce(name, kind, env[env_name], env_name))
        elif name in file_values:
            setattr(cfg, name, _coerce(name, kind, file_values[name], str(config_path)))
    risk = file_values.get("risk", {})
    if not isinstance(risk, dict):
        raise ConfigError(f"config file {config_path}: [risk] must be a table")
    try:
        parse_risk_table(risk)
    except ApiError as exc:
        raise ConfigError(f"config file {config_path}: {exc.field}: {exc.message}") from None
    cfg.risk = risk
    if not cfg.key:
        raise ConfigError("--key is required (or EMS_KEY, or key in the config file)")
    if cfg.cpus is not None:
        parse_cpus(cfg.cpus)
    return cfg


def parse_cpus(text: str) -> set[int]:
    """`2`, `2,3`, `2-5` or a mix, as a set of CPU numbers."""
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                cpus.update(range(int(lo), int(hi) + 1))
            elif part:
                cpus.add(int(part))
    except ValueError:
        raise ConfigError(f"--cpus must be a CPU list like 2 or 2,3 or 2-3, got {text!r}") from None
    if not cpus:
        raise ConfigError("--cpus names no CPU")
    return cpus
