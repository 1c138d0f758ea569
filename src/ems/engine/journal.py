"""The crash-safe journal: sessions, orders, fills and positions in one SQLite file.

The hot path never waits on the disk. Callers hand records to `Journal.write`, which only
appends to a bounded in-memory queue; a writer thread drains it in batches, one
transaction per batch, in WAL mode with `synchronous=NORMAL` (a committed batch survives
a process crash; an OS crash can lose the last batches, as can a process crash before
the writer ran). What a crash loses in that window is recovered from the venue by
reconciliation on restart, which is why every client order id ems sends starts with a
prefix of its session.

Exchange secrets are encrypted at rest with AES-GCM under a key derived (scrypt) from the
operator's secrets key; without one, sessions are not persisted and nothing can be
recovered after a restart.

The records of one event (a fill's order state, fill and position) are written inside
`Journal.atomic()` and so go into the queue as one item: a batch never splits them, and
a crash keeps all of them or none.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

log = logging.getLogger("ems.journal")

QUEUE_LIMIT = 1_000_000
RETAIN_FINISHED = 20_000
"""Finished orders brought back per session on restart (as many as a session keeps)."""
BATCH_MAX = 5_000
GATHER_S = 0.002
"""How long the writer waits after waking for more records to join the batch; it adds
as much to the window a crash can lose, and spares the event loop a wake-up per record."""
COMMIT_DELAY_ENV = "EMS_JOURNAL_COMMIT_DELAY_MS"
"""Widens the write-behind window on purpose (crash tests): the writer waits this long
before each batch, so what was queued meanwhile is lost by a kill -9."""

Record = tuple[str, tuple[Any, ...]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    exchange TEXT NOT NULL,
    secrets BLOB NOT NULL,
    settings TEXT NOT NULL,
    prefixes TEXT NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
    session_id TEXT NOT NULL,
    cl_order_id TEXT NOT NULL,
    state TEXT NOT NULL,
    working INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (session_id, cl_order_id)
);
CREATE INDEX IF NOT EXISTS orders_working ON orders (session_id, working);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    cl_order_id TEXT,
    body TEXT
);
CREATE TABLE IF NOT EXISTS strategies (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS positions (
    session_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    units INTEGER,
    value REAL NOT NULL,
    PRIMARY KEY (session_id, symbol)
);
"""


class SecretBox:
    """AES-GCM with a key derived from the operator's secrets key and a per-file salt."""

    def __init__(self, secrets_key: str, salt: bytes) -> None:
        kdf = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1)
        self._aead = AESGCM(kdf.derive(secrets_key.encode()))

    def seal(self, plain: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plain, b"ems-session")

    def open(self, sealed: bytes) -> bytes:
        return self._aead.decrypt(sealed[:12], sealed[12:], b"ems-session")


@dataclass(slots=True)
class StoredSession:
    session_id: str
    exchange: str
    secrets: dict[str, str]
    settings: dict[str, Any]
    prefixes: list[str]


class _Atomic:
    """The context of `Journal.atomic`: records written inside it are queued together."""

    __slots__ = ("_journal",)

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __enter__(self) -> None:
        journal = self._journal
        if journal._depth == 0:
            journal._owner = threading.get_ident()
        journal._depth += 1

    def __exit__(self, *exc: object) -> None:
        journal = self._journal
        journal._depth -= 1
        if journal._depth == 0:
            journal._owner = 0
            group, journal._group = journal._group, []
            if len(group) == 1:
                journal._put(group[0])
            elif group:
                journal._put(group)


class Journal:
    """Write-behind journal; `write` is safe and cheap to call from the event loop."""

    def __init__(self, path: str, secrets_key: str | None) -> None:
        self.path = path
        self._queue: queue.Queue[Record | list[Record] | None] = queue.Queue(QUEUE_LIMIT)
        self._group: list[Record] = []
        self._depth = 0
        self._owner = 0
        self._atomic = _Atomic(self)
        self._delay = float(os.environ.get(COMMIT_DELAY_ENV) or 0) / 1000
        if self._delay:
            # A crash-test knob: it widens what a crash loses to this much of trading.
            log.warning(
                "%s is set: journal commits lag %.0f ms (for crash tests, not for trading)",
                COMMIT_DELAY_ENV,
                self._delay * 1000,
            )
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._box: SecretBox | None = None
        if secrets_key:
            row = self._db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
            salt = row[0] if row else os.urandom(16)
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt,))
            self._box = SecretBox(secrets_key, salt)
        self.written = 0
        self.batches = 0
        self.last_commit_ns = 0
        self._queued = 0
        """Items put in the queue so far (a record, or an atomic group)."""
        self._done = 0
        """Items the writer has finished with (committed, or failed and logged)."""
        self._thread = threading.Thread(target=self._run, name="ems-journal", daemon=True)
        self._thread.start()

    @property
    def persists_sessions(self) -> bool:
        return self._box is not None

    # ------------------------------------------------------------------ writing

    def atomic(self) -> _Atomic:
        """`with journal.atomic():` the records written inside (on this thread) are
        committed in one transaction, together or not at all. Nests."""
        return self._atomic

    def write(self, statement: str, args: tuple[Any, ...]) -> None:
        """Queues one statement; never blocks the caller while the queue has room."""
        if self._depth and self._owner == threading.get_ident():
            self._group.append((statement, args))
            return
        self._put((statement, args))

    def _put(self, item: Record | list[Record]) -> None:
        self._queued += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            # A full queue means the disk cannot keep up for minutes; waiting is better
            # than losing records, and says loudly that something is wrong.
            log.error("journal queue full (%d records); writing synchronously", QUEUE_LIMIT)
            self._queue.put(item)

    def event(self, session_id: str, kind: str, cl_order_id: str | None, body: Any) -> None:
        self.write(
            "INSERT INTO events (ts_ns, session_id, kind, cl_order_id, body) VALUES (?,?,?,?,?)",
            (time.time_ns(), session_id, kind, cl_order_id, orjson.dumps(body).decode()),
        )

    def order(
        self, session_id: str, cl_order_id: str, state: dict[str, Any], working: bool
    ) -> None:
        self.write(
            "INSERT INTO orders VALUES (?,?,?,?,?) ON CONFLICT (session_id, cl_order_id) DO "
            "UPDATE SET state=excluded.state, working=excluded.working, "
            "updated_ns=excluded.updated_ns",
            (session_id, cl_order_id, orjson.dumps(state).decode(), int(working), time.time_ns()),
        )

    def position(self, session_id: str, symbol: str, units: int | None, value: float) -> None:
        self.write(
            "INSERT INTO positions VALUES (?,?,?,?) ON CONFLICT (session_id, symbol) DO "
            "UPDATE SET units=excluded.units, value=excluded.value",
            (session_id, symbol, units, value),
        )

    def strategy(self, kind: str, key: str, body: Any | None) -> None:
        """Saves (or with body None, forgets) a strategy's state: triggers, limits..."""
        if body is None:
            self.write("DELETE FROM strategies WHERE kind=? AND key=?", (kind, key))
        else:
            self.write(
                "INSERT INTO strategies VALUES (?,?,?) ON CONFLICT (kind, key) DO "
                "UPDATE SET body=excluded.body",
                (kind, key, orjson.dumps(body).decode()),
            )

    def strategies(self, kind: str) -> list[tuple[str, Any]]:
        return [
            (key, orjson.loads(body))
            for key, body in self._db.execute(
                "SELECT key, body FROM strategies WHERE kind=? ORDER BY rowid", (kind,)
            )
        ]

    def session(self, stored: StoredSession) -> None:
        """Persists a session (only with a secrets key: credentials are in it)."""
        if self._box is None:
            return
        sealed = self._box.seal(orjson.dumps(stored.secrets))
        self.write(
            "INSERT INTO sessions VALUES (?,?,?,?,?,0) ON CONFLICT (session_id) DO UPDATE SET "
            "secrets=excluded.secrets, settings=excluded.settings, prefixes=excluded.prefixes, "
            "stopped=0",
            (
                stored.session_id,
                stored.exchange,
                sealed,
                orjson.dumps(stored.settings).decode(),
                orjson.dumps(stored.prefixes).decode(),
            ),
        )

    def _run(self) -> None:
        _name_os_thread("ems-journal")
        while True:
            item = self._queue.get()
            # Let the records of the next moment join this batch: one wake-up and one
            # commit for many records, so the writer asks the event loop's thread for
            # the interpreter lock far less often (each ask can hold the loop back).
            time.sleep(self._delay or GATHER_S)
            batch = [item]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is None for entry in batch)
            items = [entry if isinstance(entry, list) else [entry] for entry in batch if entry]
            records = [record for group in items for record in group]
            if records and not self._commit(records):
                # One bad record must not take the rest of the batch with it: each item
                # (a record, or an event's records together) gets its own transaction.
                for group in items:
                    self._commit(group)
            self._done += sum(entry is not None for entry in batch)
            for _ in batch:
                self._queue.task_done()
            if stop:
                return

    def _commit(self, records: list[Record]) -> bool:
        """Commits `records` in one transaction; False (logged, rolled back) if sqlite
        refuses any of them."""
        try:
            self._db.execute("BEGIN")
            # Runs of one statement go to sqlite in one call (less Python per record).
            for statement, run in itertools.groupby(records, key=_statement):
                self._db.executemany(statement, [args for _, args in run])
            self._db.execute("COMMIT")
        except sqlite3.Error:
            log.exception("journal batch of %d records failed", len(records))
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            return False
        self.written += len(records)
        self.batches += 1
        self.last_commit_ns = time.time_ns()
        return True

    async def durable(self, timeout: float = 10.0) -> bool:
        """Waits, without blocking the event loop, until everything queued so far has
        been through the writer; False if that takes longer than `timeout`. For control
        requests whose answer promises durability (a new session), never the hot path."""
        target = self._queued
        deadline = time.monotonic() + timeout
        while self._done < target:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.001)
        return True

    def flush(self, timeout: float = 10.0) -> None:
        """Waits until everything queued so far is committed (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.001)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
        self._db.close()

    # ------------------------------------------------------------------ reading

    def sessions(self) -> list[StoredSession]:
        """Every persisted session that was not stopped (needs the secrets key)."""
        if self._box is None:
            return []
        out = []
        rows = self._db.execute(
            "SELECT session_id, exchange, secrets, settings, prefixes FROM sessions WHERE stopped=0"
        ).fetchall()
        for session_id, exchange, sealed, settings, prefixes in rows:
            try:
                secrets = orjson.loads(self._box.open(sealed))
            except Exception:
                log.error(
                    "session %s: cannot decrypt its credentials (wrong secrets key?)", session_id
                )
                continue
            out.append(
                StoredSession(
                    session_id, exchange, secrets, orjson.loads(settings), orjson.loads(prefixes)
                )
            )
        return out

    def last_event_ms(self) -> int:
        """Time of the newest journaled record, or now if there is none."""
        row = self._db.execute("SELECT max(ts_ns) FROM events").fetchone()
        return (row[0] if row and row[0] else time.time_ns()) // 1_000_000

    def orders(self, session_id: str) -> Iterable[tuple[dict[str, Any], bool]]:
        # Working orders, and the most recent finished ones (as many as a session keeps).
        for state, working in self._db.execute(
            "SELECT state, working FROM orders WHERE session_id=? AND working=1 "
            "UNION ALL SELECT * FROM (SELECT state, working FROM orders WHERE session_id=? "
            "AND working=0 ORDER BY updated_ns DESC LIMIT ?)",
            (session_id, session_id, RETAIN_FINISHED),
        ):
            yield orjson.loads(state), bool(working)

    def positions(self, session_id: str) -> dict[str, tuple[int | None, float]]:
        return {
            symbol: (units, value)
            for symbol, units, value in self._db.execute(
                "SELECT symbol, units, value FROM positions WHERE session_id=?", (session_id,)
            )
        }


def _name_os_thread(name: str) -> None:
    """Names the calling thread for the OS (`top -H`, /proc/<pid>/task/*/comm), so the
    journal writer can be told apart when placing threads on CPUs."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _statement(record: Record) -> str:
    return record[0]
