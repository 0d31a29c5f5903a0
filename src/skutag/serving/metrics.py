"""Prometheus metrics of one app instance (own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "skutag_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "skutag_http_request_seconds", "HTTP request latency", ["route"], buckets=_LATENCY, registry=r
        )
        self.products = Counter("skutag_products_tagged_total", "Products tagged", ["decision"], registry=r)
        self.batch_rows = Histogram(
            "skutag_batch_rows",
            "Rows per model batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "skutag_batch_seconds", "Model + store time per batch", buckets=_LATENCY, registry=r
        )
        self.reviews = Counter("skutag_reviews_total", "Review decisions", ["action"], registry=r)
        self.ready = Gauge("skutag_ready", "1 when the model is loaded and the store reachable", registry=r)
        self.queue_depth = Gauge("skutag_batch_queue_depth", "Requests waiting for the batcher", registry=r)
