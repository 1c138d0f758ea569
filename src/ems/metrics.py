"""Prometheus metrics, namespace `om`, on their own port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Loopback acks take tens of microseconds; a venue across a data centre, milliseconds.
LATENCY_BUCKETS = (
    25e-6,
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    """Every metric ems exports; one instance per server."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._sent: dict[tuple[str, str], Counter] = {}
        self._updates: dict[tuple[str, str], Counter] = {}
        ns = "om"
        self.orders_sent = Counter(
            "orders_sent",
            "Order requests sent to venues",
            ["exchange", "transaction_type"],
            namespace=ns,
            registry=self.registry,
        )
        self.updates = Counter(
            "order_updates",
            "Order updates published, by status",
            ["exchange", "status"],
            namespace=ns,
            registry=self.registry,
        )
        self.rejects = Counter(
            "rejects",
            "Requests refused by ems or by the venue, by reason",
            ["exchange", "reason"],
            namespace=ns,
            registry=self.registry,
        )
        self.latency = Histogram(
            "send_ack_latency_seconds",
            "Time from sending an order to the venue's first ack",
            ["exchange"],
            namespace=ns,
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.tick_to_order = Histogram(
            "trigger_tick_to_order_seconds",
            "From reading a trade frame to having written every order it fired",
            ["exchange"],
            namespace=ns,
            registry=self.registry,
            buckets=LATENCY_BUCKETS[:12],
        )
        self.rehearsals = Counter(
            "hot_path_rehearsals",
            "Timer rehearsals of the trade-to-order path while a trigger was armed "
            "(default mode; a spinning loop rehearses between frames, uncounted)",
            namespace=ns,
            registry=self.registry,
        )
        self.sessions = Gauge(
            "open_sessions",
            "Order sessions running",
            namespace=ns,
            registry=self.registry,
        )
        self.positions = Gauge(
            "position",
            "Position per session and symbol",
            ["session", "exchange", "symbol"],
            namespace=ns,
            registry=self.registry,
        )

    def order_sent(self, exchange: str, transaction_type: str) -> None:
        # Labelled children are cached: looking one up costs microseconds per order.
        key = (exchange, transaction_type)
        child = self._sent.get(key)
        if child is None:
            child = self._sent[key] = self.orders_sent.labels(exchange, transaction_type)
        child.inc()

    def update(self, exchange: str, status: str) -> None:
        key = (exchange, status)
        child = self._updates.get(key)
        if child is None:
            child = self._updates[key] = self.updates.labels(exchange, status)
        child.inc()

    def reject(self, exchange: str, reason: str) -> None:
        self.rejects.labels(exchange, reason).inc()

    def ack_latency(self, exchange: str, nanoseconds: int) -> None:
        self.latency.labels(exchange).observe(nanoseconds / 1e9)

    def position(self, session: str, exchange: str, symbol: str, value: float) -> None:
        self.positions.labels(session, exchange, symbol).set(value)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
