"""`petrostream serve` and `petrostream demo`: flags, a busy port, the demo's virtual clock."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from petrostream.cli import main
from petrostream.cli.demo import DemoOptions, stages_for


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path, busy_port: int) -> None:
    result = CliRunner().invoke(
        main, ["--home", str(tmp_path / "home"), "serve", "--port", str(busy_port)]
    )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.output
    assert "pick another --port" in result.output
    assert "Traceback" not in result.output


def test_demo_on_a_busy_port_stops_before_replaying(tmp_path: Path, busy_port: int) -> None:
    # given a port already taken
    home = tmp_path / "home"

    # when the demo is asked to serve there
    result = CliRunner().invoke(main, ["--home", str(home), "demo", "--port", str(busy_port)])

    # then it stops with one line, before anything went on the stream
    assert result.exit_code == 2, result.output
    assert "pick another --port" in result.output
    assert not (home / "stream.db").exists()


def test_demo_stages_serve_only_when_asked() -> None:
    serving = [title for title, _ in stages_for(DemoOptions(serve=True))]
    quiet = [title for title, _ in stages_for(DemoOptions(serve=False))]
    assert serving[0] == quiet[0] == "prepare the home"
    assert "dashboard" in serving and serving[-1] == "serve the dashboard"
    assert "dashboard" not in quiet and quiet[-1] == "summary"
    assert [t for t in serving if t not in ("dashboard", "serve the dashboard")] == quiet


def test_demo_rejects_a_negative_speed(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "demo", "--speed", "-1"])
    assert result.exit_code == 2
    assert "--speed" in result.output
