"""The kernel benchmarks of run.py under pytest-benchmark: one test per kernel and per
contender (ours, then each peer), from run.py's own cases, so the statements, inputs and
peers are the ones the published table measures.

    python -m pytest -p no:cacheprovider bench/test_kernels.py --benchmark-group-by=group
    python -m pytest -q -p no:cacheprovider bench/test_kernels.py --benchmark-disable  # CI

Each kernel is a benchmark group, so ours prints beside its peers. Before a peer is timed
its output is checked against ours on the same input wherever the two are comparable
(the same prices, sizes, ids and fields, the same FIX message, the same book levels); with
--benchmark-disable only those checks run, each statement once.

pytest-benchmark reports per call of the statement, where run.py divides some by a unit
count (`divisor` in the test's extra_info: level_in_message per message of 40 levels,
batch_cancel_upkeep per insert plus remove). run.py stays the tool that writes RESULTS.md
and results.json: it interleaves ours and the peers so that a slow spell of a shared
machine falls on both, which separate pytest-benchmark tests cannot do.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

import frames
import run
from ems import _core

CASES = {case.kernel: case for case in run.all_cases()}
# Calls per round when a statement consumes a finite input (a stream of depth messages).
ITERATIONS = 16


def function_of(stmt: str, ns: run.Namespace, record: bool = False) -> Callable[[], None]:
    """The statement as a function over the namespace, as timeit runs it; with `record`,
    every expression statement's value is appended to ns["results"]."""
    body = ast.parse(stmt).body
    if record:
        ns["results"] = []
        body = [
            ast.Expr(
                ast.Call(
                    ast.Attribute(ast.Name("results", ast.Load()), "append", ast.Load()),
                    [s.value],
                    [],
                )
            )
            if isinstance(s, ast.Expr)
            else s
            for s in body
        ]
    fn = ast.FunctionDef(
        name="kernel",
        args=ast.arguments([], [], None, [], [], None, []),
        body=body,
        decorator_list=[],
        returns=None,
        type_params=[],
    )
    module = ast.fix_missing_locations(ast.Module([fn], []))
    exec(compile(module, f"<{stmt.splitlines()[0]}>", "exec"), ns)
    kernel: Callable[[], None] = ns.pop("kernel")
    return kernel


@dataclass
class Outcome:
    """One run of a contender's statement on a fresh setup."""

    results: list[Any]
    ns: run.Namespace


def once(bench: run.Bench) -> Outcome:
    ns = bench.setup()
    function_of(bench.stmt, ns, record=True)()
    return Outcome(ns["results"], ns)


# --- same result: ours against a peer ----------------------------------------------------


def side_of(text: str) -> int:
    return {"BUY": _core.BUY, "SELL": _core.SELL}[text.upper()]


def units(case: run.Case) -> tuple[Callable[[str], int], Callable[[str], int]]:
    assert case.grid is not None, case.kernel
    tick, step = (_core.Grid(g) for g in case.grid)
    return tick.units, step.units


def trades_view(trades: list[Any]) -> list[tuple[int, int, int, int, int]]:
    return [(t.price, t.qty, t.aggressor_side, t.time, t.trade_id) for t in trades]


def same_trade(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    price, qty = units(case)
    t = theirs.results[0]
    # m: the buyer is the maker, so the seller took.
    side = _core.SELL if t.m else _core.BUY
    got = ours.results[0]
    assert (got.price, got.qty, got.aggressor_side, got.time) == (price(t.p), qty(t.q), side, t.T)


def same_okx_trades(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    price, qty = units(case)
    want = [
        (price(t.px), qty(t.sz), side_of(t.side), int(t.ts), int(t.tradeId))
        for t in theirs.results[0].data
    ]
    assert trades_view(ours.results[0]) == want


def same_bybit_trades(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    price, qty = units(case)
    want = [(price(t.p), qty(t.v), side_of(t.S), t.T, int(t.i)) for t in theirs.results[0].data]
    assert trades_view(ours.results[0]) == want


def okx_order_view(values: list[Any]) -> list[Any]:
    # Ours gives the side as BUY/SELL and the time as an integer; OKX as text.
    return [side_of(v) if v in ("buy", "sell") else v for v in values[:-1]] + [int(values[-1])]


def same_okx_order(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    if case.kernel.endswith("_read13"):
        # Both statements read the 13 fields in the same order.
        assert len(ours.results) == 13
        assert ours.results == okx_order_view(theirs.results)
        return
    (got,) = ours.results[0]
    (want,) = theirs.results[0].data
    assert [getattr(got, n) for n in run.OKX_ORDER_FIELDS] == okx_order_view(
        [getattr(want, n) for n in want.__struct_fields__]
    )


def same_execution_report(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    got, r = ours.results[0], theirs.results[0]
    pairs = {
        "symbol": r.s,
        "client_order_id": r.c,
        "side": side_of(r.S),
        "order_type": r.o,
        "time_in_force": r.f,
        "qty": r.q,
        "price": r.p,
        "orig_client_order_id": r.C,
        "exec_type": r.x,
        "status": r.X,
        "reject_reason": r.r,
        "order_id": str(r.i),
        "last_qty": r.l,
        "cum_qty": r.z,
        "last_price": r.L,
        "fee": r.n,
        "fee_asset": r.N or "",
        "trade_time": r.T,
        "trade_id": str(r.t),
        "is_maker": r.m,
        "cum_quote": r.Z,
        "exch_time": r.E,
    }
    assert {n: getattr(got, n) for n in pairs} == pairs


def same_book_levels(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    """Ours applied the message to the book; every level the peer parsed from it is in
    the book at the size the peer read (0: the level is gone)."""
    assert ours.results == [_core.APPLIED]
    msg = theirs.results[0]
    if hasattr(msg, "U"):  # Binance depthUpdate
        sides = msg.b, msg.a
    elif isinstance(msg.data, list):  # OKX books
        sides = msg.data[0].bids, msg.data[0].asks
    else:  # Bybit orderbook
        sides = msg.data.b, msg.data.a
    price, qty = units(case)
    book = ours.ns["book"]
    for side, levels in zip((_core.BID, _core.ASK), sides, strict=True):
        assert levels
        for level in levels:
            assert book.size_at(side, price(level[0])) == qty(level[1]), (side, level)


def same_best_prices(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    # The nautilus book is built in whole ticks (precision 0) around the same mid.
    assert ours.results == [int(p.as_decimal()) for p in theirs.results]


def same_fix_message(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    got, want = ours.results[0], theirs.results[0]
    if peer.name == "quickfix":
        # quickfix writes the body's fields in tag order.
        assert sorted(_core.fix_decode(got).fields()) == sorted(_core.fix_decode(want).fields())
    else:
        assert got == want


def same_fix_fields(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    def raw(v: Any) -> bytes | None:
        return v.encode() if isinstance(v, str) else v

    values = ours.results
    assert len(values) == len(frames.EXEC_REPORT_TAGS)
    assert None not in values
    assert values == [raw(v) for v in theirs.results[-len(values) :]]


def same_value(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    assert ours.results == theirs.results


def same_fired_payloads(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    # The trigger ids differ by construction (see run.trigger_fire_case); the orders not.
    fired = [[payload for _, payload in o.results[0]] for o in (ours, theirs)]
    assert fired[0] == fired[1] == [b"order-up-7"]


def same_cancels(case: run.Case, peer: run.Peer, ours: Outcome, theirs: Outcome) -> None:
    def view(messages: list[bytes]) -> tuple[int, list[str]]:
        ids = []
        for m in map(orjson.loads, messages):
            assert m["op"] == "batch-cancel-orders"
            assert len(m["args"]) <= _core.OKX_BATCH_CANCEL_MAX
            assert {a["instId"] for a in m["args"]} == {"BTC-USDT"}
            ids += [a["ordId"] for a in m["args"]]
        return len(messages), sorted(ids)

    assert view(ours.results[0]) == view(theirs.results[0]) == (50, sorted(run.ORDER_IDS))


Check = Callable[[run.Case, run.Peer, Outcome, Outcome], None]

# None: no output to compare (the peer works on different objects, or returns nothing).
CHECKS: dict[str, Check | None] = {
    "trade_parse": same_trade,
    "okx_order_parse": same_okx_order,
    "okx_order_parse_read13": same_okx_order,
    "depth_parse_apply": same_book_levels,
    "level_update": None,
    "level_in_message": None,
    "best_bid_ask": same_best_prices,
    "fix_encode": same_fix_message,
    "fix_parse": same_fix_fields,
    "hmac_sha256_hex": same_value,
    "hmac_sha256_base64": same_value,
    "trigger_no_fire": same_value,
    "trigger_fire_one": same_fired_payloads,
    "batch_cancel_pull_1000": same_cancels,
    "batch_cancel_upkeep": None,
    "execution_report_parse": same_execution_report,
    "okx_trades_parse": same_okx_trades,
    "bybit_trades_parse": same_bybit_trades,
    "okx_books_apply": same_book_levels,
    "bybit_orderbook_apply": same_book_levels,
}


# --- the benchmarks -------------------------------------------------------------------------


def slug(name: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in name).lower().split())


def contenders() -> list[Any]:
    params = []
    for case in CASES.values():
        params.append(pytest.param(case.kernel, None, id=f"{case.kernel}-ours"))
        for i, peer in enumerate(case.peers):
            params.append(pytest.param(case.kernel, i, id=f"{case.kernel}-{slug(peer.name)}"))
    return params


def test_every_kernel_has_a_result_check() -> None:
    assert set(CHECKS) == set(CASES)


@pytest.mark.parametrize(("kernel", "peer_index"), contenders())
def test_kernel(benchmark: Any, kernel: str, peer_index: int | None) -> None:
    case = CASES[kernel]
    benchmark.group = kernel
    if peer_index is None:
        bench = case.ours
    else:
        peer = case.peers[peer_index]
        if not run.installed(peer.requires):
            pytest.skip(f"peer not installed: {peer.requires}")
        check = CHECKS[kernel]
        if check is not None:
            check(case, peer, once(case.ours), once(peer.bench))
        bench = peer.bench
    benchmark.extra_info["divisor"] = bench.divisor
    ns = bench.setup()
    fn = function_of(bench.stmt, ns)
    if bench.capacity:
        # The setup readied `capacity` calls' worth of input; take no more (pedantic makes
        # one call after the rounds, for the result).
        rounds = (bench.capacity - 1) // ITERATIONS
        benchmark.pedantic(fn, rounds=rounds, iterations=ITERATIONS)
    else:
        benchmark(fn)
