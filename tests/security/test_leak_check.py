"""The end-of-run secrets check finds a secret in a log, and knows the run's secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import harness
from tests.security.leaks import find_leaks, log_files


def test_a_secret_written_to_a_log_is_found_and_a_masked_one_is_not(tmp_path: Path):
    secret = "s3cr3t-" + "q" * 20
    leaky = tmp_path / "a" / "ems.log"
    leaky.parent.mkdir()
    leaky.write_text(f"INFO starting session with key {secret}\n")
    masked = tmp_path / "b.log"
    masked.write_text(f"INFO starting session with key {secret[:4]}…{secret[-4:]}\n")
    elsewhere = tmp_path / "journal.db"
    elsewhere.write_text(secret)  # not a log: encrypted-at-rest has its own test
    logs = log_files([tmp_path], [])
    assert logs == [leaky, masked]
    leaks = find_leaks(logs, {secret, "short"})
    assert len(leaks) == 1 and leaks[0].startswith(str(leaky))
    assert secret not in leaks[0]  # the report itself does not repeat the secret


def test_the_run_registers_its_servers_logs_and_secrets(sim: dict[str, Any], logs_dir: Path):
    assert logs_dir / "sim.log" in harness.LOG_FILES
    assert harness.API_KEY in harness.SECRETS
    for account in sim["accounts"]:
        assert account["secretKey"] in harness.SECRETS
        assert account["apiKey"] in harness.SECRETS
        if account.get("passphrase"):
            assert account["passphrase"] in harness.SECRETS
