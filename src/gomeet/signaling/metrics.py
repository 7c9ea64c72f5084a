"""Signaling metrics, collected from the hub's plain counters when `/metrics` is scraped.
Labels are bounded (error and close codes); nothing from a handshake's query string."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gomeet.signaling.hub import Hub


class SignalingCollector(Collector):
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        hub, stats = self._hub, self._hub.stats
        open_now = GaugeMetricFamily("gomeet_ws_connections", "Open signaling sockets.")
        open_now.add_metric([], hub.open_connections)
        opened = CounterMetricFamily("gomeet_ws_connections_opened", "Accepted sockets.")
        opened.add_metric([], stats.connections_opened)
        received = CounterMetricFamily("gomeet_ws_messages_received", "Client frames read.")
        received.add_metric([], stats.messages_received)
        relayed = CounterMetricFamily(
            "gomeet_ws_messages_relayed", "Offers, answers and candidates relayed."
        )
        relayed.add_metric([], stats.messages_relayed)
        refused = CounterMetricFamily(
            "gomeet_ws_handshakes_refused", "Handshakes refused before the upgrade.",
            labels=["code"],
        )  # fmt: skip
        for code, count in sorted(stats.refused.items()):
            refused.add_metric([code], count)
        closed = CounterMetricFamily(
            "gomeet_ws_closed", "Sockets closed, by close code.", labels=["code"]
        )
        for close_code, count in sorted(stats.closed.items()):
            closed.add_metric([str(close_code)], count)
        bus = CounterMetricFamily(
            "gomeet_ws_bus_events", "Cross-process events.", labels=["direction"]
        )
        bus.add_metric(["published"], hub.bus.published)
        bus.add_metric(["received"], hub.bus.received)
        bus.add_metric(["dropped"], hub.bus.dropped)
        presence = CounterMetricFamily(
            "gomeet_ws_presence_writes", "Participant rows written for presence."
        )
        presence.add_metric([], hub.presence.writes)
        yield from (open_now, opened, received, relayed, refused, closed, bus, presence)
