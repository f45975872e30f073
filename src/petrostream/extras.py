"""The package's optional parts and the extra that installs each.

A verb that needs one calls `require` first, so a missing part is one sentence
naming the extra to install, never a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib
from typing import Final

from petrostream.errors import ConfigError

EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "dashboard": ("starlette", "uvicorn"),
    "synth": ("pandas",),
}
"""Extra name (``pip install 'petrostream[<name>]'``) -> the modules it provides."""


def require(extra: str, what: str) -> None:
    """Check that the modules of ``extra`` import; ``what`` names the feature needing them.

    Raises:
        ConfigError: a module is missing; the message says which extra installs it.
    """
    missing = []
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ConfigError(
            f"{what} needs the optional '{extra}' part ({', '.join(missing)} not installed): "
            f"pip install 'petrostream[{extra}]' (in a clone of the repository: make demo)"
        )
