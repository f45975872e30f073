"""Every CLI verb, collected for registration on the root group.

Each module below owns its verbs and lists them in ``COMMANDS``; command
modules import only click at module level, heavy imports stay in the bodies.
"""

from __future__ import annotations

import click

from petrostream.cli import (
    alerts,
    aws,
    catalog,
    dataset,
    demo,
    evaluate,
    lake,
    query,
    replay,
    run,
    serve,
    stream,
)

ALL: list[click.Command] = [
    *demo.COMMANDS,
    *replay.COMMANDS,
    *run.COMMANDS,
    *catalog.COMMANDS,
    *query.COMMANDS,
    *lake.COMMANDS,
    *evaluate.COMMANDS,
    *alerts.COMMANDS,
    *serve.COMMANDS,
    *stream.COMMANDS,
    *dataset.COMMANDS,
    *aws.COMMANDS,
]
