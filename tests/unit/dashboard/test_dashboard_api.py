"""The dashboard's JSON API over a small real pipeline: stream -> lake writer + detector -> API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from petrostream.dashboard.api import OPENAPI
from petrostream.dashboard.app import create_app, static_dir
from petrostream.dashboard.data import DashboardData
from petrostream.lake.service import run_lake_writer
from petrostream.runtime.detector import run_detector
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream
from petrostream.testing.lake import put_readings
from petrostream.testing.readings import steady, step

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BAR = 1e5
ONSET_S = 600  # WELL-00001's pressure drops by 20 bar 10 minutes in (3W class 2)
LEVELS = {"p_pdg": 300 * BAR, "p_tpt": 120 * BAR, "t_tpt": 90.0}
BASE_URL = "http://127.0.0.1:8050"  # the Host a browser on this machine sends


def _labelled(readings: list[dict[str, Any]], instance: str, onset_s: int | None) -> None:
    for i, reading in enumerate(readings):
        reading["instance_id"] = instance
        if onset_s is None or i < onset_s:
            reading["event_class"], reading["event_type"] = 0, "NORMAL"
        elif i < onset_s + 120:
            reading["event_class"], reading["event_type"] = 102, "SPURIOUS_CLOSURE_OF_DHSV"
        else:
            reading["event_class"], reading["event_type"] = 2, "SPURIOUS_CLOSURE_OF_DHSV"


def _fill(settings: Settings, readings: list[dict[str, Any]]) -> None:
    stream = LocalStream(settings.stream_path, shard_count=2)
    try:
        put_readings(stream, readings)
    finally:
        stream.close()
    run_lake_writer(settings, drain=True)
    run_detector(settings, drain=True)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A home where 20 min of WELL-00001 (with an event) and 10 min of WELL-00002 went through."""
    settings = Settings(home=tmp_path_factory.mktemp("dash") / "home")
    eventful = step(
        1200, at_s=ONSET_S, sensor="p_pdg", by=-20 * BAR, ramp_s=30, start=START, **LEVELS
    )
    _labelled(eventful, "WELL-00001_20240101000000", ONSET_S)
    quiet = steady(600, well_id="WELL-00002", start=START, seed=3, **LEVELS)
    _labelled(quiet, "WELL-00002_20240101000000", None)
    _fill(settings, eventful + quiet)
    return settings


@pytest.fixture
def client(pipeline: Settings) -> Iterator[TestClient]:
    app = create_app(pipeline, data=DashboardData(pipeline, crawl_interval=0.0))
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


# ---------------------------------------------------------------- OpenAPI


def test_every_api_route_and_method_is_in_the_openapi_document(client: TestClient) -> None:
    # given the app's routes
    app_routes = client.app.routes  # type: ignore[attr-defined]
    routes = [r for r in app_routes if isinstance(r, Route) and r.path.startswith("/api")]

    # when the OpenAPI document is fetched
    served = client.get("/api/openapi.json").json()

    # then it is the document the module declares, and it lists every route and method
    assert served == OPENAPI
    assert served["openapi"].startswith("3.")
    assert len(routes) >= 7
    for route in routes:
        assert route.path in served["paths"], f"{route.path} is not documented"
        methods = {m.lower() for m in (route.methods or set())} - {"head"}
        assert methods <= set(served["paths"][route.path]), f"{route.path}: {methods}"
    # and nothing documented is missing from the app
    assert set(served["paths"]) == {r.path for r in routes}


# ---------------------------------------------------------------- fleet


def test_fleet_lists_each_well_with_its_latest_reading_counts_and_alerts(
    client: TestClient,
) -> None:
    # when the fleet overview is fetched
    body = client.get("/api/fleet").json()

    # then both wells are there with their reading counts from the lake
    wells = {w["well_id"]: w for w in body["wells"]}
    assert set(wells) == {"WELL-00001", "WELL-00002"}
    assert (wells["WELL-00001"]["readings"], wells["WELL-00002"]["readings"]) == (1200, 600)
    assert body["totals"]["readings"] == 1800
    # and the latest reading: the eventful well ends 20 bar below its start, in class 2
    latest = wells["WELL-00001"]
    assert latest["p_pdg"] == pytest.approx(280 * BAR, abs=1 * BAR)
    assert latest["event_type"] == "SPURIOUS_CLOSURE_OF_DHSV"
    assert latest["ts"].startswith(f"{START + timedelta(seconds=1199):%Y-%m-%dT%H:%M:%S}")
    assert latest["age_s"] > 0
    # and the pressure drop raised alerts on WELL-00001 only
    assert wells["WELL-00001"]["alerts"] >= 1
    assert wells["WELL-00002"]["alerts"] == 0
    assert body["totals"]["alerts"] == wells["WELL-00001"]["alerts"]


def test_sensors_are_the_lake_columns_with_units(client: TestClient) -> None:
    sensors = client.get("/api/sensors").json()["sensors"]
    assert [s["column"] for s in sensors] == ["p_pdg", "p_tpt", "t_tpt"]
    assert [(s["unit"], s["kind"]) for s in sensors] == [
        ("Pa", "pressure"),
        ("Pa", "pressure"),
        ("degC", "temperature"),
    ]


# ---------------------------------------------------------------- series


def test_series_is_downsampled_on_the_server_and_keeps_every_reading_in_its_buckets(
    client: TestClient,
) -> None:
    # when 20 minutes of 1 Hz readings are asked for in at most 50 points
    body = client.get("/api/wells/WELL-00001/series", params={"points": 50}).json()

    # then at most 50 buckets come back, whole seconds wide, covering all 1200 readings
    assert 0 < len(body["t"]) <= 50
    assert body["bucket_seconds"] >= 1200 / 50
    assert sum(body["n"]) == body["readings"] == 1200
    assert body["t"] == sorted(body["t"])
    # and each default sensor has mean/min/max per bucket, with min <= mean <= max
    assert set(body["series"]) == {"p_pdg", "p_tpt", "t_tpt"}
    p = body["series"]["p_pdg"]
    assert len(p["avg"]) == len(p["min"]) == len(p["max"]) == len(body["t"])
    assert all(lo <= mean <= hi for lo, mean, hi in zip(p["min"], p["avg"], p["max"], strict=True))
    # and the drop is visible: the first bucket is ~300 bar, the last ~280 bar
    assert p["avg"][0] == pytest.approx(300 * BAR, abs=0.5 * BAR)
    assert p["avg"][-1] == pytest.approx(280 * BAR, abs=0.5 * BAR)


def test_series_marks_the_3w_event_and_the_alerts_in_range(client: TestClient) -> None:
    body = client.get("/api/wells/WELL-00001/series", params={"points": 200}).json()

    # then the transient (102) and the steady event (2) are spans after the onset
    onset_ms = (START + timedelta(seconds=ONSET_S)).timestamp() * 1000
    classes = [s["event_class"] for s in body["events"]]
    assert classes == [102, 2]
    assert all(s["event_type"] == "SPURIOUS_CLOSURE_OF_DHSV" for s in body["events"])
    assert body["events"][0]["transient"] and not body["events"][1]["transient"]
    assert body["events"][0]["from"] <= onset_ms < body["events"][0]["to"]
    # and the alert markers are the well's alerts, after the onset
    assert body["alerts"]
    assert {a["well_id"] for a in body["alerts"]} == {"WELL-00001"}
    assert all(a["ts_ms"] >= onset_ms for a in body["alerts"])


def test_series_range_and_sensor_choice(client: TestClient) -> None:
    # given a 5-minute window starting at the onset, one sensor
    start = START + timedelta(seconds=ONSET_S)
    end = start + timedelta(seconds=299)
    params = {"sensors": "t_tpt", "start": start.isoformat(), "end": end.isoformat()}

    # when it is asked for
    body = client.get("/api/wells/WELL-00001/series", params=params).json()

    # then only that sensor and only those 300 readings come back
    assert list(body["series"]) == ["t_tpt"]
    assert body["readings"] == 300
    assert body["series"]["t_tpt"]["unit"] == "degC"


def test_series_last_seconds_counts_back_from_the_latest_reading(client: TestClient) -> None:
    body = client.get("/api/wells/WELL-00002/series", params={"last": 60, "points": 600}).json()
    assert body["readings"] == 61  # both ends included
    assert body["bucket_seconds"] == 1


@pytest.mark.parametrize(
    ("path", "params", "status", "needle"),
    [
        ("/api/wells/WELL-00001/series", {"sensors": "p_nope"}, 400, "unknown sensor 'p_nope'"),
        ("/api/wells/WELL-09999/series", {}, 404, "no readings"),
        ("/api/wells/WELL-00001/series", {"start": "yesterday"}, 400, "ISO 8601"),
        ("/api/wells/WELL-00001/series", {"points": 0}, 400, "points=0"),
        ("/api/wells/WELL-00001/series", {"points": "many"}, 400, "whole number"),
        ("/api/wells/WELL-00001/series", {"last": "-5"}, 400, "positive"),
        ("/api/alerts", {"limit": 0}, 400, "limit=0"),
        ("/api/nothing-here", {}, 404, "openapi"),
    ],
)
def test_bad_requests_get_a_json_message(
    client: TestClient, path: str, params: dict[str, Any], status: int, needle: str
) -> None:
    message = _error(client.get(path, params=params), status)
    assert needle in message


# ---------------------------------------------------------------- alerts


def test_alerts_feed_lists_the_detectors_alerts_newest_first(client: TestClient) -> None:
    body = client.get("/api/alerts", params={"limit": 50}).json()
    alerts = body["alerts"]
    assert alerts, "the 20 bar drop raised no alert"
    assert {a["well_id"] for a in alerts} == {"WELL-00001"}
    assert "pressure_jump" in {a["rule"] for a in alerts}
    assert all(re.fullmatch(r"[0-9a-f]{40}:(open|closed|update:\d+)", a["key"]) for a in alerts)
    assert body["summary"]["alerts"] == len({a["alert_id"] for a in alerts})
    assert body["summary"]["by_rule"]["pressure_jump"] >= 1
    # and one well's filter keeps only that well
    assert client.get("/api/alerts", params={"well_id": "WELL-00002"}).json()["alerts"] == []


# ---------------------------------------------------------------- SQL console


def test_sql_console_runs_athena_sql_on_the_lake(client: TestClient) -> None:
    sql = "SELECT well_id, count(*) AS n FROM petrostream_db.sensors GROUP BY well_id ORDER BY 1"
    body = client.post("/api/query", json={"sql": sql}).json()
    assert body["columns"] == ["well_id", "n"]
    assert body["types"] == ["varchar", "bigint"]
    assert body["rows"] == [["WELL-00001", 1200], ["WELL-00002", 600]]
    assert body["truncated"] is False


def test_sql_console_limit_truncates(client: TestClient) -> None:
    body = client.post("/api/query", json={"sql": "SELECT ts FROM sensors", "limit": 5}).json()
    assert len(body["rows"]) == 5 and body["truncated"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["rows"][0][0])


def test_bad_sql_is_a_400_with_the_engines_message(client: TestClient) -> None:
    message = _error(client.post("/api/query", json={"sql": "SELEC * FROM sensors"}), 400)
    assert "line 1" in message and "^" in message
    unknown = _error(client.post("/api/query", json={"sql": "SELECT nope FROM sensors"}), 400)
    assert "nope" in unknown


@pytest.mark.parametrize(
    "sql",
    ["DROP TABLE sensors", "DELETE FROM sensors", "SELECT * FROM read_csv('/etc/passwd')"],
)
def test_the_console_refuses_anything_but_a_query(client: TestClient, sql: str) -> None:
    message = _error(client.post("/api/query", json={"sql": sql}), 400)
    assert "refused" in message or "not allowed" in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"sql": "  "}, "empty"),
        ({"query": "SELECT 1"}, '"sql"'),
        ({"sql": "SELECT 1", "limit": 0}, "limit"),
    ],
)
def test_malformed_console_requests(client: TestClient, body: dict[str, Any], needle: str) -> None:
    assert needle in _error(client.post("/api/query", json=body), 400)


def test_sql_console_downloads_csv(client: TestClient) -> None:
    # when the console's CSV button posts the query with format=csv
    sql = "SELECT well_id, count(*) AS n FROM sensors GROUP BY 1 ORDER BY 1"
    response = client.post("/api/query?format=csv", json={"sql": sql})

    # then a CSV attachment with a header line comes back
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [["well_id", "n"], ["WELL-00001", "1200"], ["WELL-00002", "600"]]
    # and the same works as a GET link
    got = client.get("/api/query", params={"sql": sql, "format": "csv"})
    assert got.text == response.text


def test_named_queries_are_offered_as_examples(client: TestClient) -> None:
    queries = {q["name"]: q for q in client.get("/api/queries").json()["queries"]}
    assert "avg_pressure_last_hour" in queries
    assert queries["pressure_series"]["params"]["well_id"] is None


# ---------------------------------------------------------------- health


def test_health_shows_lag_per_consumer_last_flush_files_and_rejects(client: TestClient) -> None:
    body = client.get("/api/health").json()
    stream = body["stream"]
    assert stream["records"] == 1800
    assert {c["consumer"]: c["lag_records"] for c in stream["consumers"]} == {
        "detector": 0,
        "lake-writer": 0,
    }
    lake = body["lake"]
    assert lake["commits"] >= 1 and lake["last_flush"]["committed_at"]
    assert lake["tables"]["sensors"]["rows"] == 1800
    assert lake["tables"]["sensors"]["files"] >= 2  # one per well partition at least
    assert body["rejects"] == {
        "replay": 0,
        "lake": 0,
        "dead_letters": 0,
        "dead_letters_by_reason": {},
    }
    assert body["detector"]["metrics"]["records_processed"] == 1800


# ---------------------------------------------------------------- live updates


def test_new_lake_files_show_up_without_a_crawl_command(tmp_path: Path) -> None:
    # given a dashboard over a home with one well
    settings = Settings(home=tmp_path / "home")
    _fill(settings, steady(60, well_id="WELL-00001", start=START, **LEVELS))
    with TestClient(
        create_app(settings, data=DashboardData(settings, crawl_interval=0.0)), base_url=BASE_URL
    ) as c:
        assert c.get("/api/fleet").json()["totals"]["readings"] == 60

        # when more readings go through the pipeline while it serves
        later = START + timedelta(minutes=5)
        _fill(settings, steady(30, well_id="WELL-00003", start=later, **LEVELS))

        # then the next answer has them, and the catalog file was never written
        fleet = c.get("/api/fleet").json()
    assert fleet["totals"]["readings"] == 90
    assert [w["well_id"] for w in fleet["wells"]] == ["WELL-00001", "WELL-00003"]
    assert not settings.catalog_path.exists()


def test_fleet_says_which_wells_are_synthetic(tmp_path: Path) -> None:
    # given a real well number and the first and last numbers kept for synthetic wells
    settings = Settings(home=tmp_path / "home")
    wells = ("WELL-00011", "WELL-89999", "WELL-90001", "WELL-99999")
    _fill(settings, [r for w in wells for r in steady(30, well_id=w, start=START, **LEVELS)])
    # when the fleet overview is fetched
    with TestClient(
        create_app(settings, data=DashboardData(settings, crawl_interval=0.0)), base_url=BASE_URL
    ) as c:
        fleet = c.get("/api/fleet").json()
    # then WELL-90001 and up are tagged synthetic, the others are not
    assert {w["well_id"]: w["synthetic"] for w in fleet["wells"]} == {
        "WELL-00011": False, "WELL-89999": False, "WELL-90001": True, "WELL-99999": True,
    }  # fmt: skip


def test_an_empty_home_serves_empty_answers_not_errors(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with TestClient(create_app(settings), base_url=BASE_URL) as c:
        fleet = c.get("/api/fleet").json()
        health = c.get("/api/health").json()
        alerts = c.get("/api/alerts").json()
        sql = c.post("/api/query", json={"sql": "SELECT count(*) FROM sensors"})
    assert fleet["wells"] == [] and fleet["totals"]["readings"] == 0
    assert health["stream"]["exists"] is False and health["lake"]["last_flush"] is None
    assert alerts["alerts"] == []
    assert "sensors" in _error(sql, 400)
    # and looking did not create any state
    assert not (tmp_path / "home" / "stream.db").exists()
    assert not (tmp_path / "home" / "alerts.db").exists()


# ---------------------------------------------------------------- the page


def test_the_page_and_its_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert set(assets) == {"/static/app.css", "/static/app.js"}
    for asset in assets:
        assert client.get(asset).status_code == 200


def test_no_asset_loads_anything_from_another_host() -> None:
    # the page must work offline: no CDN, no web font, no remote script
    allowed = {"http://www.w3.org/2000/svg"}
    for path in static_dir().rglob("*"):
        if path.is_file():
            urls = set(re.findall(r"https?://[^\s\"'`)]+", path.read_text(encoding="utf-8")))
            assert urls <= allowed, f"{path.name} refers to {urls - allowed}"


def test_fleet_finds_each_wells_latest_reading_across_days(tmp_path: Path) -> None:
    # given a lake written by hand: WELL-00001 on May 1st and 3rd, WELL-00002 on the 2nd only
    from petrostream.testing.lakefiles import sensor_rows, write_lake_file

    lake = tmp_path / "home" / "lake"
    days = [("WELL-00001", 1), ("WELL-00001", 3), ("WELL-00002", 2)]
    for well, day in days:
        start = datetime(2024, 5, day, 12, tzinfo=UTC)
        rows = sensor_rows(10, start=start, instance_id=f"{well}_{day}", base=float(day))
        write_lake_file(lake, "sensors", {"dt": f"2024-05-0{day}", "well_id": well}, rows)
    settings = Settings(home=tmp_path / "home")

    # when the fleet is asked for
    with TestClient(
        create_app(settings, data=DashboardData(settings, crawl_interval=0)), base_url=BASE_URL
    ) as c:
        wells = {w["well_id"]: w for w in c.get("/api/fleet").json()["wells"]}

    # then each well shows its own latest reading, and its readings over all days
    assert wells["WELL-00001"]["ts"] == "2024-05-03T12:00:09.000Z"
    assert wells["WELL-00001"]["instance_id"] == "WELL-00001_3"
    assert wells["WELL-00001"]["readings"] == 20
    assert wells["WELL-00002"]["ts"] == "2024-05-02T12:00:09.000Z"
    assert wells["WELL-00002"]["p_pdg"] == 2.0 + 9
