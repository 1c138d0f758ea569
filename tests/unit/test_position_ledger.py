"""The position ledger: pushes and REST lists of venue positions, in any arrival order."""

from __future__ import annotations

from ems.venues.ledger import PositionLedger, stamp


def test_a_list_made_before_a_push_that_arrives_after_it_is_ignored_for_that_symbol():
    ledger = PositionLedger()
    assert ledger.listed(ledger.mark(), [("BTC", "0", 10, 1.0), ("ETH", "0", 4, 2.0)]) == {
        "BTC": 1.0,
        "ETH": 2.0,
    }
    mark = ledger.mark()
    assert ledger.pushed([("BTC", "0", 11, 1.5)]) == {"BTC": 1.5}
    # The list was requested before the push: BTC keeps the push, ETH takes the list.
    assert ledger.listed(mark, [("BTC", "0", 10, 1.0), ("ETH", "0", 12, 2.5)]) == {
        "BTC": 1.5,
        "ETH": 2.5,
    }


def test_a_replayed_or_reordered_push_with_an_older_stamp_changes_nothing():
    ledger = PositionLedger()
    ledger.pushed([("BTC", "0", 5, 1.0)])
    assert ledger.pushed([("BTC", "0", 4, 0.5)]) == {}
    assert ledger.total("BTC") == 1.0
    # The same stamp twice is the same state: applied (harmless).
    assert ledger.pushed([("BTC", "0", 5, 1.0)]) == {"BTC": 1.0}


def test_a_list_older_than_what_is_held_is_ignored_even_without_a_crossing_push():
    ledger = PositionLedger()
    ledger.pushed([("BTC", "0", 9, 3.0)])
    assert ledger.listed(ledger.mark(), [("BTC", "0", 8, 2.0)]) == {"BTC": 3.0}
    assert ledger.listed(ledger.mark(), [("BTC", "0", 10, 2.0)]) == {"BTC": 2.0}


def test_a_held_position_missing_from_a_list_is_flat_and_a_later_push_reopens_it():
    ledger = PositionLedger()
    ledger.pushed([("BTC", "0", 3, 1.0)])
    assert ledger.listed(ledger.mark(), []) == {"BTC": 0.0}
    assert ledger.pushed([("BTC", "0", 2, 0.4)]) == {"BTC": 0.4}


def test_hedge_mode_legs_are_kept_apart_and_summed():
    ledger = PositionLedger()
    ledger.listed(ledger.mark(), [("BTC", "1", 7, 2.0), ("BTC", "2", 7, -0.5)])
    assert ledger.total("BTC") == 1.5
    # A push naming one leg moves only that leg.
    assert ledger.pushed([("BTC", "2", 8, -1.0)]) == {"BTC": 1.0}


def test_rows_without_a_stamp_apply_in_arrival_order():
    ledger = PositionLedger()
    ledger.pushed([("BTC", "net", None, 1.0)])
    assert ledger.listed(ledger.mark(), [("BTC", "net", None, 2.0)]) == {"BTC": 2.0}
    assert ledger.pushed([("BTC", "net", None, 0.5)]) == {"BTC": 0.5}


def test_stamps_are_positive_integers_or_none():
    assert stamp("1700000000123") == 1700000000123
    assert stamp(42) == 42
    assert stamp(-1) is None  # Bybit: never traded
    assert stamp(0) is None  # Binance: never held
    assert stamp("") is None and stamp(None) is None and stamp("x1") is None
    assert stamp(True) is None and stamp(1.5) is None
