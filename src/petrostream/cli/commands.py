"""Every CLI verb, collected for registration on the root group.

Each module below owns its verbs and lists them in ``COMMANDS``.
"""

from __future__ import annotations

import click

from petrostream.cli import dataset, demo, lake, replay, run, stream

ALL: list[click.Command] = [
    *dataset.COMMANDS,
    *stream.COMMANDS,
    *replay.COMMANDS,
    *run.COMMANDS,
    *lake.COMMANDS,
    *demo.COMMANDS,
]
