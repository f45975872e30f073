"""The API against hostile and careless clients: hosts, origins, tokens, sizes, bad parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from starlette.testclient import TestClient

from petrostream.dashboard.app import create_app, dashboard_limits
from petrostream.dashboard.data import DashboardData
from petrostream.dashboard.security import TOKEN_COOKIE, AccessPolicy
from petrostream.settings import Settings
from petrostream.testing.lakefiles import TS, sensor_rows, write_lake_file

BASE = "http://127.0.0.1:8050"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
YEAR_0000_MS = -62_167_219_200_000  # 0000-01-01 00:00:00 UTC
YEAR_9999_MS = 253_402_300_799_000  # 9999-12-31 23:59:59 UTC


def _reading_at(epoch_ms: int) -> pa.Table:
    rows = sensor_rows(1, start=T0)
    return rows.set_column(
        rows.schema.get_field_index("ts"), "ts", pa.array([epoch_ms], pa.int64()).cast(TS)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake of 1800 readings of one well, plus one reading stamped 0000 and one 9999."""
    home = tmp_path_factory.mktemp("hardening") / "home"
    lake = home / "lake"
    write_lake_file(
        lake, "sensors", {"dt": "2024-05-01", "well_id": "WELL-00011"}, sensor_rows(1800, start=T0)
    )
    write_lake_file(
        lake, "sensors", {"dt": "0000-01-01", "well_id": "WELL-00011"}, _reading_at(YEAR_0000_MS)
    )
    write_lake_file(
        lake, "sensors", {"dt": "9999-12-31", "well_id": "WELL-00011"}, _reading_at(YEAR_9999_MS)
    )
    return home


def _client(home: Path, access: AccessPolicy | None = None) -> TestClient:
    settings = Settings(home=home)
    data = DashboardData(settings, crawl_interval=60, limits=dashboard_limits(settings))
    app = create_app(settings, data=data, access=access)
    return TestClient(app, base_url=BASE, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    with _client(home) as test_client:
        yield test_client


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["error"]
    assert "Traceback" not in response.text
    return str(body["error"])


# ---------------------------------------------------------------- who may ask


def test_a_dns_rebinding_host_is_refused(client: TestClient) -> None:
    # a page on evil.example.com whose name now resolves to 127.0.0.1 sends its own Host
    message = _error(client.get("/api/fleet", headers={"Host": "evil.example.com"}), 421)
    assert "evil.example.com" in message and "--allow-host" in message
    # the loopback names this machine's browser uses are answered
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050"):
        assert client.get("/api/health", headers={"Host": host}).status_code == 200


def test_a_cross_origin_request_is_refused(client: TestClient) -> None:
    headers = {"Origin": "http://evil.example.com"}
    assert "cross-origin" in _error(client.get("/api/fleet", headers=headers), 403)
    post = client.post("/api/query", json={"sql": "SELECT 1"}, headers=headers)
    assert "cross-origin" in _error(post, 403)
    # the page's own origin is fine
    own = client.post("/api/query", json={"sql": "SELECT 1"}, headers={"Origin": BASE})
    assert own.status_code == 200


def test_a_cross_site_fetch_of_the_api_is_refused(client: TestClient) -> None:
    response = client.get(
        "/api/query", params={"sql": "SELECT 1"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert "cross-site" in _error(response, 403)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_query_posted_as_anything_but_json_is_refused(client: TestClient, content_type) -> None:
    # a cross-site <form> or fetch(..., {mode: "no-cors"}) can only send these types
    response = client.post(
        "/api/query", content=b'{"sql": "SELECT 1"}', headers={"Content-Type": content_type}
    )
    assert "application/json" in _error(response, 415)


def test_a_huge_request_body_is_refused_unread(client: TestClient) -> None:
    sql = "SELECT 1 -- " + "x" * 2_000_000
    response = client.post("/api/query", json={"sql": sql})
    assert "larger than 1,000,000 bytes" in _error(response, 413)


def test_an_answer_past_the_size_limit_is_a_413_not_200_mb(client: TestClient) -> None:
    sql = "SELECT lpad('x', 100000, 'y') AS wide FROM sensors"
    response = client.post("/api/query", json={"sql": sql, "limit": 10000})
    assert "larger than 16 MB" in _error(response, 413)  # cut off while fetching


def test_with_a_token_every_request_needs_it(home: Path) -> None:
    access = AccessPolicy.for_bind("0.0.0.0", token="s3cret-token-0123456789")  # noqa: S104, S106
    with _client(home, access) as c:
        # without it: 401 with the way in, and any Host (a rebinding page has no token)
        assert "token" in _error(c.get("/api/fleet"), 401)
        assert c.get("/api/fleet", headers={"Host": "evil.example.com"}).status_code == 401
        assert _error(c.get("/api/fleet", headers={"Authorization": "Bearer wrong"}), 401)
        # with the bearer token
        ok = c.get("/api/health", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        assert ok.status_code == 200
        # and the browser way: /?token= once sets an HttpOnly, SameSite=Strict cookie
        opened = c.get("/?token=s3cret-token-0123456789", follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert c.get("/api/health").status_code == 200  # the client kept the cookie
        assert c.get("/?token=wrong", follow_redirects=False).status_code == 401


# ---------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/api/wells/WELL-00011/series", {"last": "1e308"}, "more than a century"),
        ("/api/wells/WELL-00011/series", {"last": "nan"}, "positive number of seconds"),
        ("/api/wells/WELL-00011/series", {"last": "inf"}, "positive number of seconds"),
        ("/api/wells/WELL-00011/series", {"last": "-1"}, "positive number of seconds"),
        ("/api/wells/WELL-00011/series", {"start": "0001-01-01T00:00:00Z"}, "outside 1900 to 3000"),
        ("/api/wells/WELL-00011/series", {"end": "9999-12-31T23:59:59Z"}, "outside 1900 to 3000"),
        ("/api/wells/WELL-00011/series", {"start": "2024-13-01"}, "ISO 8601"),
        ("/api/wells/WELL-00011/series", {"points": "1e9"}, "whole number"),
        ("/api/wells/WELL-00011/series", {"points": "99999999999999999999"}, "out of range"),
        ("/api/wells/WELL-00011/series", {"sensors": "p_pdg;DROP"}, "unknown sensor"),
        ("/api/alerts", {"limit": "-3"}, "out of range"),
        ("/api/query", {"sql": "SELECT 1", "limit": "x"}, "whole number"),
        ("/api/query", {"sql": "SELECT 1", "format": "xml"}, "use json or csv"),
        ("/api/query", {"sql": ""}, "empty"),
    ],
)
def test_bad_parameters_get_a_sentence_not_a_500(client: TestClient, path, params, needle) -> None:
    assert needle in _error(client.get(path, params=params), 400)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"sql": "SELECT " + "(" * 300 + "1" + ")" * 300}, "nests parentheses more than"),
        ({"sql": "SELECT " + " ".join(["NOT"] * 3000) + " true"}, "nested too deeply"),
        ({"sql": "SELECT " + "+".join(["1"] * 5000)}, "split it into WITH clauses"),
        ({"sql": "SELECT 1", "limit": True}, '"limit" must be a whole number'),
        ({"sql": ["SELECT 1"]}, '"sql" string'),
    ],
)
def test_bad_sql_bodies_get_a_sentence_not_a_500(client: TestClient, body, needle) -> None:
    assert needle in _error(client.post("/api/query", json=body), 400)


def test_invalid_utf8_and_non_json_bodies_are_400(client: TestClient) -> None:
    bad = client.post(
        "/api/query", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert "must be JSON" in _error(bad, 400)


# ---------------------------------------------------------------- impossible timestamps in the lake


def test_year_0000_and_9999_readings_neither_500_the_series_nor_age_the_fleet(client) -> None:
    # the series charts the real readings only
    series = client.get("/api/wells/WELL-00011/series", params={"points": 100})
    assert series.status_code == 200, series.text
    assert series.json()["readings"] == 1800
    assert series.json()["first_reading"].startswith("2024-05-01T12:00:00")
    # and the fleet shows no age for a reading stamped in year 9999 (not -2.5e11 s)
    fleet = client.get("/api/fleet").json()
    (well,) = fleet["wells"]
    assert well["age_s"] is None
    assert fleet["totals"]["freshest_age_s"] is None
    # while SQL still shows every reading, the odd ones included
    rows = client.post("/api/query", json={"sql": "SELECT count(*) FROM sensors"}).json()["rows"]
    assert rows == [[1802]]
