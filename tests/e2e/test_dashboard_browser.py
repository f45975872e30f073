"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

After a demo run, `petrostream serve` on a free loopback port; the page must
show a chart with data for a well, an alert in the feed, and rows for a SQL
query typed into the console. The screenshot goes to artifacts/dashboard.png.
The browser is the system's (PETROSTREAM_CHROMIUM, else `chromium` on PATH):
nothing is downloaded, and a missing browser fails the test (CI installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from petrostream.cli.demo import SYNTH_WELLS
from petrostream.dataset import instance_of
from petrostream.schema import is_synthetic_well

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
BUNDLED = Path(__file__).resolve().parents[2] / "src" / "petrostream" / "data" / "3w"
REAL_WELLS = sorted({instance_of(path).well_id for path in BUNDLED.rglob("*.csv")})
"""The bundled sample's wells: the demo's real wells (its synthetic ones are WELL-90001 on)."""
DEMO_WELLS = len(REAL_WELLS) + SYNTH_WELLS
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]


def chromium_path() -> str:
    found = os.environ.get("PETROSTREAM_CHROMIUM") or shutil.which("chromium")
    if not found or not Path(found).exists():
        pytest.fail(
            "no Chromium for the browser test: install Debian's package "
            "(apt-get install chromium) or set PETROSTREAM_CHROMIUM to a Chromium binary",
            pytrace=False,
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            _, err = server.communicate()
            pytest.fail(f"petrostream serve exited with {server.returncode}: {err[-2000:]}")
        try:
            with urllib.request.urlopen(url + "api/health", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"the dashboard did not answer at {url} within {timeout:g} s")


@pytest.fixture
def dashboard(demo_run: Any, petrostream_cli: list[str], cli_env: dict[str, str]) -> Iterator[str]:
    """`petrostream serve` over the demo's home on a free loopback port; yields its URL."""
    assert demo_run.returncode == 0, demo_run.stderr[-3000:]
    port = free_port()
    command = [*petrostream_cli, "--home", str(demo_run.home), "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_dashboard_shows_chart_alerts_and_sql_results(dashboard: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    requested: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            # when the dashboard opens
            page.goto(dashboard)

            # then a well's chart draws lines with data points
            page.wait_for_function(
                "() => [...document.querySelectorAll('#chart path.series-line')]"
                ".some(p => Number(p.dataset.points) > 10)",
                timeout=30_000,
            )
            well = page.text_content("#chart-well")
            assert well in REAL_WELLS, f"the first chart is of {well}, not a real well"
            # and the 3W event of that well is shaded
            assert page.locator("#chart rect.event-span").count() >= 1

            # and the alerts feed lists the detector's alerts
            page.wait_for_selector("[data-testid=alert-item]", timeout=30_000)
            assert page.locator("[data-testid=alert-item]").count() >= 1
            first_alert = page.locator("[data-testid=alert-item]").first.text_content() or ""
            assert "WELL-" in first_alert

            # when a query is typed into the SQL console and run
            page.fill(
                "[data-testid=sql-text]",
                "SELECT well_id, count(*) AS readings FROM sensors GROUP BY well_id ORDER BY 1",
            )
            page.click("[data-testid=sql-run]")

            # then its rows are in the results table: one per well of the demo
            page.wait_for_selector("#sql-result tbody tr", timeout=30_000)
            rows = page.locator("#sql-result tbody tr")
            assert rows.count() == DEMO_WELLS
            # (the real bundled wells sort first; the synthetic ones are WELL-90001 on)
            assert (rows.first.text_content() or "").startswith(REAL_WELLS[0])
            assert f"{DEMO_WELLS} rows" in (page.text_content("#sql-status") or "")

            # and the page settles before the screenshot (fleet and health filled)
            page.wait_for_function(
                f"() => document.querySelectorAll('#fleet-table tbody tr').length === {DEMO_WELLS}"
                " && document.querySelector('#health .kv') !== null",
                timeout=30_000,
            )
            # and the fleet tags the synthetic wells so, and only them
            fleet = page.locator("#fleet-table tbody tr")
            tagged = {
                fleet.nth(i).get_attribute("data-well"): fleet.nth(i)
                .locator("[data-testid=synthetic-tag]")
                .count()
                for i in range(fleet.count())
            }
            assert tagged == {w: int(is_synthetic_well(w)) for w in tagged}
            assert sum(tagged.values()) == SYNTH_WELLS
            assert set(REAL_WELLS) <= {w for w, n in tagged.items() if n == 0}
            tag = page.locator("[data-testid=synthetic-tag]").first
            assert tag.text_content() == "synthetic" and tag.is_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

            # when a bad query is run, the console shows the engine's message
            page.fill("[data-testid=sql-text]", "SELEC 1")
            page.click("[data-testid=sql-run]")
            page.wait_for_selector("#sql-status.error", timeout=30_000)
            assert "syntax" in (page.text_content("#sql-status") or "").lower()
        finally:
            browser.close()

    # and everything the page loaded came from the dashboard itself (no CDN)
    assert requested and all(url.startswith(dashboard) for url in requested), requested
    assert problems == []
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
