"""CLI verbs: evaluate (detection quality against 3W labels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from petrostream.cli import output_format, settings_of


@click.command("evaluate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_format()
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Detection rules TOML. [env PETROSTREAM_RULES_FILE; default: the bundled rules]",
)
@click.option(
    "--compare",
    "compare_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Another rules TOML scored beside yours and the seed rule (repeatable), e.g. "
    "an earlier version of your rules.",
)
@click.option(
    "--cv",
    type=click.Choice(["none", "well"]),
    default="none",
    show_default=True,
    help="Cross-validation: 'well' scores each well's instances with a detector fitted on "
    "the other wells only (SIMULATED and DRAWN instances are one group each). The "
    "bundled rules learn nothing, so both give the same figures.",
)
@click.pass_context
def evaluate(
    ctx: click.Context,
    paths: tuple[Path, ...],
    fmt: str,
    rules_file: Path | None,
    compare_files: tuple[Path, ...],
    cv: str,
) -> None:
    """Score detection on labelled 3W instances (files, class folders or a 3W tree).

    Per event class: instances detected / total, median and p90 delay from the
    event's onset, and false process alerts per 24 h of normal operation (class-0
    instances and the normal stretch before each onset), beside the seed's naive
    rule (p_pdg > 300 bar) as a baseline. Sensor-health alerts are counted apart.
    Then how many detected instances were diagnosed as their event, a confusion
    matrix, and the unlabelled and rejected rows. Definitions: docs/detection.md.
    """
    from petrostream.detect.evaluation import evaluate as run
    from petrostream.detect.evaluation import load_instances
    from petrostream.detect.report import format_table
    from petrostream.detect.rules import load_rules

    settings = settings_of(ctx)
    rules = load_rules(rules_file or settings.rules_file)

    def progress(done: int, total: int, instance_id: str) -> None:
        click.echo(f"\r[{done}/{total}] {instance_id}".ljust(60), err=True, nl=done == total)

    skipped: list[str] = []

    def unreadable(path: str, why: str) -> None:
        skipped.append(path)
        click.secho(f"\nskipped {path}: {why}", fg="yellow", err=True)

    compare = [load_rules(path) for path in compare_files]
    detector, baseline, others = run(
        load_instances(paths, progress, unreadable), rules, cv=cv, compare=compare
    )
    if fmt == "json":
        doc: dict[str, Any] = {"detector": detector.to_dict(), "baseline": baseline.to_dict()}
        if others:
            doc["compare"] = [other.to_dict() for other in others]
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(format_table(detector, baseline, others))
    if skipped and not detector.instances:
        from petrostream.errors import DatasetError

        raise DatasetError(f"no file could be evaluated: {len(skipped)} could not be read (above)")
    if skipped:
        click.secho(
            f"{len(skipped)} file(s) could not be read and were not evaluated (above)",
            fg="yellow",
            err=True,
        )


COMMANDS: list[click.Command] = [evaluate]
