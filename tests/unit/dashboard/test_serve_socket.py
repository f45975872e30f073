"""`serve` on a real socket: Host, Origin, content type, sizes, token, and concurrent queries."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from petrostream.dashboard.app import BackgroundServer, dashboard_limits
from petrostream.dashboard.data import DashboardData
from petrostream.dashboard.security import AccessPolicy
from petrostream.settings import Settings
from petrostream.testing.lakefiles import sensor_rows, write_lake_file

TOKEN = "a-test-token-0123456789"  # noqa: S105 - a test token
SLOW = "SELECT sum(a.p_pdg * b.p_tpt * c.t_tpt) FROM sensors a, sensors b, sensors c"


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One raw HTTP request on its own connection; the status and the JSON body."""
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        con.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
            sent["Content-Length"] = str(len(body))
        for name, value in sent.items():
            con.putheader(name, value)
        con.endheaders(body)
        response = con.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else {}
    finally:
        con.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("socket") / "home"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    write_lake_file(
        home / "lake",
        "sensors",
        {"dt": "2024-05-01", "well_id": "WELL-00001"},
        sensor_rows(2000, start=start),
    )
    return home


@pytest.fixture
def served(home: Path, free_port: int) -> Iterator[tuple[int, DashboardData]]:
    settings = Settings(home=home)
    data = DashboardData(settings, crawl_interval=60, limits=dashboard_limits(settings))
    port = free_port
    with BackgroundServer(settings, port=port, data=data):
        yield port, data


def test_host_origin_content_type_and_size_are_checked_on_the_wire(served) -> None:
    port, _ = served
    query = json.dumps({"sql": "SELECT 1 AS one"}).encode()
    assert request(port, "POST", "/api/query", body=query)[0] == 200
    status, body = request(port, "GET", "/api/fleet", headers={"Host": "evil.example.com"})
    assert status == 421 and "evil.example.com" in body["error"]
    status, _ = request(
        port, "POST", "/api/query", body=query, headers={"Origin": "http://evil.example.com"}
    )
    assert status == 403
    status, body = request(
        port, "POST", "/api/query", body=query, headers={"Content-Type": "text/plain"}
    )
    assert status == 415 and "application/json" in body["error"]
    # a client announcing 3 MB is answered before it sends them (the server reads none)
    status, body = request(
        port,
        "POST",
        "/api/query",
        headers={"Content-Length": "3000000", "Content-Type": "application/json"},
    )
    assert status == 413 and "larger than" in body["error"]


def test_a_slow_query_does_not_block_select_1(served) -> None:
    # given three slow cross joins running at once
    port, data = served
    slow = json.dumps({"sql": SLOW}).encode()
    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(request, port, "POST", "/api/query", body=slow) for _ in range(3)]
        assert data.lake.engine().pool.wait_running(3, timeout=120), (
            "the slow queries never started"
        )

        # when SELECT 1 is asked meanwhile
        status, body = request(port, "GET", "/api/query?sql=SELECT%201%20AS%20one")

        # then it answers while all three are still running
        assert status == 200 and body["rows"] == [[1]]
        assert not any(f.done() for f in running)
        data.close()  # interrupts them: each gets a sentence, not a traceback
        answers = [f.result() for f in running]
    assert {s for s, _ in answers} == {400}
    assert all("shutting down" in b["error"] for _, b in answers)


def test_a_server_with_a_token_wants_it_on_the_wire(home: Path, free_port: int) -> None:
    settings = Settings(home=home)
    access = AccessPolicy.for_bind("127.0.0.1", token=TOKEN)
    port = free_port
    with BackgroundServer(settings, port=port, access=access):
        status, body = request(port, "GET", "/api/health")
        assert status == 401 and "token" in body["error"]
        status, _ = request(
            port, "GET", "/api/health", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert status == 200
