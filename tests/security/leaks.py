"""The whole-run secrets check: no secret the suite used appears in any log it wrote.

`tests/harness.Process` registers every log file it writes and every secret it hands a
server (API keys, secrets keys) or is handed by a simulator (account keys, secrets,
passphrases); tests register the others with `harness.secret`. At the end of the run
`tests/conftest.py` greps every registered log and every `*.log` under the run's
temporary folder for every registered secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

MIN_SECRET = 8
"""Shorter strings are not checked: they would match by chance (and are no secret)."""


def find_leaks(logs: Iterable[Path], secrets: Iterable[str]) -> list[str]:
    """Each (log, secret) pair where the log holds the secret, the secret masked."""
    wanted = sorted({s for s in secrets if len(s) >= MIN_SECRET})
    leaks = []
    for path in sorted(set(logs)):
        try:
            text = path.read_bytes()
        except OSError:
            continue
        for secret in wanted:
            if secret.encode() in text:
                leaks.append(f"{path}: {secret[:3]}…({len(secret)} chars)")
    return leaks


def log_files(roots: Iterable[Path], registered: Iterable[Path]) -> list[Path]:
    """Every registered log, and every *.log file under the roots."""
    found = set(registered)
    for root in roots:
        if root.is_dir():
            found.update(p for p in root.rglob("*.log") if p.is_file())
    return sorted(found)
