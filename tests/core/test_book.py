"""The compiled order book: venue sequence rules, queries and malformed input."""

import zlib

import pytest
from core_frames import depth_update

from ems import _core
from ems._core import APPLIED, ASK, BID, BUFFERED, RESYNC, STALE, DecodeError, OrderBook


def test_binance_spot_book_buffers_until_snapshot_and_replays() -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    assert book.apply(depth_update(100, 105, [("10.01", "2")], [("10.05", "3")])) == BUFFERED
    assert not book.synced
    snap = b'{"lastUpdateId":101,"bids":[["10.00","5"],["9.99","1"]],"asks":[["10.10","1"]]}'
    assert book.load_snapshot(snap) == APPLIED
    assert book.synced
    assert book.best_bid() == (1001, 2000)
    assert book.best_ask() == (1005, 3000)
    assert book.last_update_id == 105
    assert book.depth(BID, 5) == [(1001, 2000), (1000, 5000), (999, 1000)]
    assert book.spread() == 4
    assert book.mid() == pytest.approx(10.03)
    assert book.size_at(ASK, 1010) == 1000


def test_binance_gap_reports_resync_and_leaves_book_untouched() -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    book.load_levels([(1000, 1)], [(1001, 1)], 10)
    assert book.apply(depth_update(11, 12, [], [])) == APPLIED
    assert book.apply(depth_update(5, 9, [], [])) == STALE
    assert book.apply(depth_update(14, 15, [("9.00", "1")], [])) == RESYNC
    assert not book.synced
    assert book.size_at(BID, 900) == 0


def test_binance_futures_book_follows_pu_chain() -> None:
    book = OrderBook("binance_futures", "0.1", "0.001")
    assert book.load_snapshot(b'{"lastUpdateId":50,"E":1,"T":1,"bids":[],"asks":[]}') == APPLIED
    assert book.apply(depth_update(45, 52, [("100.0", "1")], [], prev=44)) == APPLIED
    assert book.apply(depth_update(53, 53, [], [("100.5", "1")], prev=52)) == APPLIED
    assert book.apply(depth_update(60, 61, [], [], prev=58)) == RESYNC


def okx_crc(text: bytes) -> int:
    """OKX's checksum: CRC32 as a signed 32-bit integer."""
    value = zlib.crc32(text)
    return value - 2**32 if value >= 2**31 else value


def test_okx_book_checks_sequence_and_checksum() -> None:
    book = OrderBook("okx", "0.1", "1")
    # Bids and asks interleave; original text (trailing zeros included) is what counts.
    want = okx_crc(b"3366.1:7:3366.8:9:3366.0:6:3368:8")
    snap = (
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{'
        b'"asks":[["3366.8","9","0","3"],["3368","8","0","3"]],'
        b'"bids":[["3366.1","7","0","3"],["3366.0","6","0","3"]],"ts":"1",'
        b'"checksum":%d,"prevSeqId":-1,"seqId":10}]}' % want
    )
    assert book.apply(snap) == APPLIED
    assert book.okx_checksum() == want
    after = okx_crc(b"3366.1:7:3366.8:9:3366.0:6")
    upd = (
        b'{"action":"update","data":[{"asks":[["3368","0","0","0"]],"bids":[],"ts":"2",'
        b'"checksum":%d,"prevSeqId":10,"seqId":11}]}' % after
    )
    assert book.apply(upd) == APPLIED
    wrong = (
        b'{"action":"update","data":[{"asks":[],"bids":[],"checksum":1,"prevSeqId":11,"seqId":12}]}'
    )
    assert book.apply(wrong) == RESYNC
    gap = b'{"action":"update","data":[{"asks":[],"bids":[],"checksum":0,"prevSeqId":5,"seqId":6}]}'
    assert book.apply(gap) == RESYNC


def test_okx_book_without_checksums_keeps_no_text() -> None:
    # OKX sends checksum 0 since its 2026 deprecation: nothing is kept or checked.
    book = OrderBook("okx", "0.1", "1")
    snap = (
        b'{"action":"snapshot","data":[{"asks":[["3366.8","9","0","3"]],'
        b'"bids":[["3366.1","7","0","3"]],"ts":"1","checksum":0,"prevSeqId":-1,"seqId":1}]}'
    )
    assert book.apply(snap) == APPLIED
    assert book.okx_checksum() == 0
    upd = b'{"action":"update","data":[{"asks":[],"bids":[],"checksum":5,"prevSeqId":1,"seqId":2}]}'
    assert book.apply(upd) == RESYNC


def test_bybit_book_resets_on_snapshot_and_detects_gaps() -> None:
    book = OrderBook("bybit", "0.5", "0.001")
    snap = (
        b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT",'
        b'"b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":7,"seq":1}}'
    )
    assert book.apply(snap) == APPLIED
    assert book.best_bid_price() == 32987
    delta = b'{"type":"delta","ts":2,"data":{"b":[],"a":[["16611.00","0"]],"u":8}}'
    assert book.apply(delta) == APPLIED
    assert book.best_ask() is None
    assert book.apply(b'{"type":"delta","data":{"b":[],"a":[],"u":10}}') == RESYNC


def test_bybit_delta_with_an_earlier_cross_sequence_is_stale() -> None:
    book = OrderBook("bybit", "0.5", "0.001")
    snap = (
        b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT",'
        b'"b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],"u":7,"seq":100}}'
    )
    assert book.apply(snap) == APPLIED
    older = b'{"type":"delta","data":{"b":[["16000.00","1"]],"a":[],"u":8,"seq":99}}'
    assert book.apply(older) == STALE
    assert book.size_at(BID, 32000) == 0
    assert (book.last_update_id, book.synced) == (7, True)
    newer = b'{"type":"delta","data":{"b":[["16000.00","1"]],"a":[],"u":8,"seq":100}}'
    assert book.apply(newer) == APPLIED
    assert book.size_at(BID, 32000) == 1000


def test_single_level_update_and_queries() -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    book.update(BID, 100, 5)
    book.update(ASK, 101, 7)
    assert (book.best_bid_price(), book.best_ask_price()) == (100, 101)
    book.update(BID, 100, 0)
    assert book.best_bid() is None
    assert book.levels(ASK) == 1
    with pytest.raises(ValueError):
        book.update(0, 1, 1)


@pytest.mark.parametrize(
    ("frame", "offset"),
    [
        (b'{"e":"depthUpdate","U":1,"u":1,"b":[["1.001","1"]],"a":[]}', 38),
        (b'{"e":"depthUpdate","U":1,"u":1,"b":[["1.00","1"]', 48),
        (b'{"U":1,"u":x}', 11),
        (b"", 0),
    ],
)
def test_malformed_depth_raises_with_offset(frame: bytes, offset: int) -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    book.load_levels([(100, 1)], [], 0)
    with pytest.raises(ValueError) as info:
        book.apply(frame)
    assert getattr(info.value, "offset", None) == offset
    assert book.best_bid() == (100, 1)


def test_off_grid_price_is_an_off_grid_error() -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    with pytest.raises(_core.OffGridError):
        book.load_snapshot(b'{"lastUpdateId":1,"bids":[["1.001","1"]],"asks":[]}')


def test_unknown_venue_is_refused() -> None:
    with pytest.raises(ValueError):
        OrderBook("kraken", "0.01", "0.001")
    with pytest.raises(DecodeError):
        OrderBook("okx", "0.01", "0.001").apply(b'{"data":[]}')


def test_levels_given_in_units_are_validated() -> None:
    book = OrderBook("binance_spot", "0.01", "0.001")
    with pytest.raises(ValueError):
        book.update(BID, 100, -1)
    with pytest.raises(ValueError):
        book.update(ASK, -(2**63), 1)
    with pytest.raises(ValueError):
        book.load_levels([(100, -5)], [], 1)
    with pytest.raises(OverflowError):
        book.update(BID, 2**63, 1)


def test_rest_snapshot_is_for_binance_books_only() -> None:
    with pytest.raises(DecodeError):
        OrderBook("okx", "0.1", "1").load_snapshot(b'{"lastUpdateId":1,"bids":[],"asks":[]}')


def test_whole_depth_message_in_documented_order_and_futures_layout() -> None:
    book = OrderBook("binance_futures", "0.1", "0.001")
    book.load_levels([(1000, 1000)], [(1001, 1000)], 10)
    frame = (
        b'{"e":"depthUpdate","E":1700000000000,"T":1700000000000,"s":"BTCUSDT","U":9,"u":12,'
        b'"pu":10,"b":[["100.00","2.000"],["99.90","0.000"]],"a":[["100.10","0.000"],'
        b'["100.20","3.500"]]}'
    )
    assert book.apply(frame) == APPLIED
    assert book.best_bid() == (1000, 2000)
    assert book.best_ask() == (1002, 3500)
    assert book.exch_time == 1700000000000


def test_level_by_index_from_the_best() -> None:
    book = OrderBook("bybit", "0.5", "0.001")
    book.load_levels([(100, 1), (98, 2)], [(101, 3)], 1)
    assert book.level(BID, 0) == (100, 1)
    assert book.level(BID, 1) == (98, 2)
    assert book.level(BID, 2) is None
    assert book.level(ASK, 0) == (101, 3)
