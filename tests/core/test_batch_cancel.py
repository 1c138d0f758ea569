"""OKX batch-cancel builder: ready messages of at most 20 orders, kept up to date."""

import json

import pytest

from ems._core import OKX_BATCH_CANCEL_MAX, OkxBatchCancel


def order_ids(frames: list[bytes]) -> list[str]:
    ids = []
    for frame in frames:
        msg = json.loads(frame)
        assert msg["op"] == "batch-cancel-orders"
        assert 1 <= len(msg["args"]) <= OKX_BATCH_CANCEL_MAX
        assert len(msg["id"]) <= 32 and msg["id"].isalnum()
        ids += [a["ordId"] for a in msg["args"]]
    return ids


def test_pull_cancels_every_working_order() -> None:
    book = OkxBatchCancel(inst_id="BTC-USDT")
    for i in range(1000):
        assert book.insert(str(452197707845865472 + i))
    frames = book.pull()
    assert len(frames) == 50
    assert sorted(order_ids(frames)) == sorted(str(452197707845865472 + i) for i in range(1000))
    assert json.loads(frames[0])["args"][0] == {"instId": "BTC-USDT", "ordId": "452197707845865472"}


def test_removed_orders_leave_the_messages() -> None:
    book = OkxBatchCancel(inst_id_code=10459, by="clOrdId")
    for i in range(45):
        book.insert(f"ems{i}")
    for i in range(0, 45, 2):
        assert book.remove(f"ems{i}")
    assert not book.remove("ems0")
    assert "ems1" in book and "ems0" not in book
    frames = book.pull()
    assert sorted(order_ids_cl(frames)) == sorted(f"ems{i}" for i in range(1, 45, 2))
    assert json.loads(frames[0])["args"][0]["instIdCode"] == 10459
    for i in range(1, 45, 2):
        book.remove(f"ems{i}")
    assert book.pull() == []
    assert len(book) == 0


def order_ids_cl(frames: list[bytes]) -> list[str]:
    return [a["clOrdId"] for f in frames for a in json.loads(f)["args"]]


def test_pull_returns_the_same_ready_objects() -> None:
    book = OkxBatchCancel(inst_id="ETH-USDT-SWAP")
    book.insert("1")
    first, second = book.pull(), book.pull()
    assert first[0] is second[0]


def test_bad_ids_are_refused() -> None:
    book = OkxBatchCancel(inst_id="BTC-USDT")
    with pytest.raises(ValueError):
        book.insert('1"}')
    with pytest.raises(ValueError):
        book.insert("x" * 33)
    with pytest.raises(ValueError):
        OkxBatchCancel()
    with pytest.raises(ValueError):
        OkxBatchCancel(inst_id="BTC-USDT", by="orderId")
