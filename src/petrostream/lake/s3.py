"""The lake under an S3 prefix: a PUT of a whole object is atomic, so puts go straight in."""

from __future__ import annotations

from petrostream.errors import ConfigError
from petrostream.lake.base import LakeStore


class S3LakeStore(LakeStore):
    """A lake rooted at ``s3://bucket/prefix`` through `pyarrow.fs.S3FileSystem`.

    S3 never shows a partial object: an object appears when its PUT (or the
    completion of its multipart upload) succeeds. The endpoint and credentials
    follow the standard AWS variables (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
    ``AWS_ACCESS_KEY_ID``...), which pyarrow reads as boto3 does;
    ``endpoint_override`` and ``region`` set them explicitly.
    """

    def __init__(
        self, uri: str, *, endpoint_override: str | None = None, region: str | None = None
    ) -> None:
        import pyarrow.fs as pafs

        if not uri.startswith("s3://") or len(uri) <= len("s3://"):
            raise ConfigError(f"lake root {uri!r} is not an s3://bucket/prefix URI")
        base = uri[len("s3://") :].strip("/")
        kwargs: dict[str, str] = {}
        if endpoint_override:
            kwargs["endpoint_override"] = endpoint_override
        if region:
            kwargs["region"] = region
        fs = pafs.S3FileSystem(**kwargs)
        super().__init__(fs, base, f"s3://{base}")

    def _put_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.full_path(path)) as out:
            out.write(data)
