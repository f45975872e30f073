"""The local catalog: one JSON file (``settings.catalog_path``), replaced atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from petrostream.catalog.base import Catalog
from petrostream.errors import ConfigError


class LocalCatalogStore:
    """A `CatalogStore` in a JSON file; readers see the old or the new file, never half."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Catalog | None:
        """Return the catalog in the file, None if the file does not exist.

        Raises:
            ConfigError: the file is not a catalog this version can read.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Catalog.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"catalog {self.path} is unreadable ({exc}); delete it and run `petrostream crawl`"
            ) from exc

    def save(self, catalog: Catalog) -> None:
        """Write the catalog to a temporary file beside the target, fsync it, then rename it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(catalog.to_dict(), out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
