"""Venue-neutral account arithmetic for the simulators (Decimal only).

* :class:`Balance` - one asset of a cash (spot) account, ``free`` plus ``locked``.
* :class:`Position` - a one-way derivatives position with its average entry price and
  realized PnL, for linear contracts (PnL in the quote currency) and inverse contracts
  (quantity in contracts of ``contract_size`` quote units, PnL in the base coin, entry
  averaged harmonically).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
EIGHT_PLACES = Decimal("0.00000001")


@dataclass(slots=True)
class Balance:
    """One asset of a cash account."""

    free: Decimal
    locked: Decimal = ZERO

    def lock(self, amount: Decimal) -> bool:
        """Moves ``amount`` from free to locked; False (and no change) when short."""
        if amount > self.free:
            return False
        self.free -= amount
        self.locked += amount
        return True

    def unlock(self, amount: Decimal) -> None:
        """Moves ``amount`` back from locked to free."""
        self.locked -= amount
        self.free += amount


@dataclass(slots=True)
class Position:
    """A one-way position: signed size, average entry, accumulated realized PnL."""

    amt: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    update_time: int = 0

    def apply_fill(
        self, signed_qty: Decimal, price: Decimal, contract_size: Decimal | None = None
    ) -> Decimal:
        """Moves the position by a signed fill and returns the realized PnL.

        ``contract_size`` set means an inverse contract.  Realized PnL is rounded half-up
        to 8 decimals (what the venues book); a fill that flips the position opens the
        remainder at the fill price.
        """
        amt = self.amt
        if amt == ZERO or (amt > 0) == (signed_qty > 0):
            new = amt + signed_qty
            if contract_size is not None:
                held = abs(amt) / self.entry if amt else ZERO
                self.entry = abs(new) / (held + abs(signed_qty) / price)
            else:
                self.entry = (abs(amt) * self.entry + abs(signed_qty) * price) / abs(new)
            self.amt = new
            return ZERO
        closing = min(abs(amt), abs(signed_qty))
        direction = 1 if amt > 0 else -1
        if contract_size is not None:
            realized = closing * contract_size * (1 / self.entry - 1 / price) * direction
        else:
            realized = closing * (price - self.entry) * direction
        realized = realized.quantize(EIGHT_PLACES, ROUND_HALF_UP)
        new = amt + signed_qty
        if new == ZERO:
            self.entry = ZERO
        elif (new > 0) != (amt > 0):
            self.entry = price
        self.amt = new
        self.realized += realized
        return realized

    def unrealized(self, mark: Decimal, contract_size: Decimal | None = None) -> Decimal:
        """Unrealized PnL at ``mark`` (in the margin currency)."""
        if not self.amt or not self.entry or not mark:
            return ZERO
        if contract_size is not None:
            return self.amt * contract_size * (1 / self.entry - 1 / mark)
        return self.amt * (mark - self.entry)
