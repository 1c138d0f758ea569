"""A venue account's positions, as its stream pushes them and its REST reads show them.

Venues that report positions (futures, options) do it two ways: a push on the private
stream when a fill moves one, and a REST list on demand (at start, after a reconnect,
after reconciliation). Taken naively the two race: a list the venue made before a fill
can arrive after that fill's push, and writing it over the push leaves ems one fill
behind until the next push, which may never come. The ledger settles every race the
same way:

- a push is applied unless it carries a venue sequence or time older than what is held
  (a replayed or out-of-order push);
- a list row is not applied to a symbol that a push changed while the list was being
  read (the stream is ordered: that push, or one behind it, is at least as new), nor
  when its own sequence or time is older than what is held;
- a list is the whole account: a held position missing from it is flat (venues list
  only open positions).

Positions are kept per leg (Bybit `positionIdx`, Binance `positionSide`, OKX `posSide`)
so that a push naming one leg of a hedge-mode pair does not overwrite the symbol's total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PositionRow = tuple[str, str, int | None, float]
"""(symbol, leg, stamp, signed amount): the stamp is the venue's sequence or update time
of the row, None where the venue gives none."""


@dataclass(slots=True)
class _Leg:
    stamp: int | None
    amount: float


class PositionLedger:
    """One account's venue positions, ordered by arrival and by the venue's stamps."""

    def __init__(self) -> None:
        self._legs: dict[tuple[str, str], _Leg] = {}
        self._pushes = 0
        self._pushed: dict[str, int] = {}
        """Symbol -> number of the last push that changed it."""

    def mark(self) -> int:
        """Taken just before a position list is requested; given back to `listed`."""
        return self._pushes

    def pushed(self, rows: Iterable[PositionRow]) -> dict[str, float]:
        """Applies a push; returns the new total of each symbol it changed."""
        self._pushes += 1
        changed: set[str] = set()
        for symbol, leg, stamp, amount in rows:
            held = self._legs.get((symbol, leg))
            if held is not None and _older(stamp, held.stamp):
                continue
            self._legs[(symbol, leg)] = _Leg(stamp, amount)
            self._pushed[symbol] = self._pushes
            changed.add(symbol)
        return {symbol: self.total(symbol) for symbol in changed}

    def listed(self, mark: int, rows: Iterable[PositionRow]) -> dict[str, float]:
        """Applies a whole-account list requested at `mark`; returns the total of every
        symbol held or listed (flat ones included)."""
        fresh = {(symbol, leg): _Leg(stamp, amount) for symbol, leg, stamp, amount in rows}
        for key in self._legs.keys() | fresh.keys():
            if self._pushed.get(key[0], 0) > mark:
                continue
            row = fresh.get(key)
            held = self._legs.get(key)
            if row is None:
                # Not listed: flat now. A flat leg carries no stamp, so a later push of
                # any age applies over it.
                self._legs[key] = _Leg(None, 0.0)
            elif held is None or not _older(row.stamp, held.stamp):
                self._legs[key] = row
        totals: dict[str, float] = {}
        for (symbol, _), leg in self._legs.items():
            totals[symbol] = totals.get(symbol, 0.0) + leg.amount
        return totals

    def total(self, symbol: str) -> float:
        """The symbol's position summed over its legs (0.0 when none is held)."""
        return sum(leg.amount for (s, _), leg in self._legs.items() if s == symbol)


def stamp(value: object) -> int | None:
    """A venue's sequence or millisecond time as a stamp: None when absent, unreadable or
    not positive (Bybit's -1 before a first trade, Binance's 0 for a never-held symbol)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number > 0 else None


def _older(stamp: int | None, held: int | None) -> bool:
    return stamp is not None and held is not None and stamp < held
