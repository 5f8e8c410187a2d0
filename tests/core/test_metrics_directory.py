"""`storefront serve` empties PROMETHEUS_MULTIPROC_DIR at start: counts that workers of an
earlier run left there must not be added into this run's /metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.environment import subprocess_environment
from tests.support.servers import running_server

# What a worker of the previous run did before it was stopped.
EARLIER_RUN = """
from storefront.core.metrics import Metrics
Metrics().requests.labels("GET", "/api/v1/products", "200").inc(1000)
"""


def products_served(metrics_text: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "storefront_http_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/api/v1/products",
                "status": "200",
            }:
                return sample.value
    return 0.0


def test_serve_starts_from_an_empty_metrics_directory(
    tmp_path: Path, fresh_database_url: str
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", EARLIER_RUN],
        env={**subprocess_environment(), "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        check=True,
        timeout=60,
    )
    assert list(directory.glob("counter_*.db"))  # the earlier run's counts are there
    unrelated = directory / "NOTES.txt"
    unrelated.write_text("not prometheus_client's", encoding="utf-8")

    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with running_server(tmp_path, database_url=fresh_database_url, workers=2, env=env) as server:
        for _ in range(3):
            assert httpx.get(f"{server.url}/api/v1/products", timeout=10).status_code == 200
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text

    assert products_served(metrics) == 3
    assert unrelated.read_text(encoding="utf-8") == "not prometheus_client's"


def test_serve_creates_a_missing_metrics_directory(tmp_path: Path, fresh_database_url: str) -> None:
    # An emptyDir mounted over /tmp hides the directory the image made.
    directory = tmp_path / "tmp" / "storefront-metrics"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}

    with running_server(tmp_path, database_url=fresh_database_url, workers=2, env=env) as server:
        assert httpx.get(f"{server.url}/api/v1/products", timeout=10).status_code == 200
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text

    assert products_served(metrics) == 1
