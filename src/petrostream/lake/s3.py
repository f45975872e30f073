"""The lake under an S3 prefix: a PUT of a whole object is atomic, so puts go straight in."""

from __future__ import annotations

from typing import Any

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
        fs: pafs.FileSystem
        if endpoint_override or region:
            fs = pafs.S3FileSystem(endpoint_override=endpoint_override, region=region)
        else:
            # from_uri applies the standard AWS variables, AWS_ENDPOINT_URL included
            # (the bare constructor ignores it), and finds the bucket's region.
            fs, _ = pafs.FileSystem.from_uri(f"s3://{base}")
        super().__init__(fs, base, f"s3://{base}")
        self._endpoint = endpoint_override
        self._region = region
        self._s3: Any = None

    def delete(self, path: str) -> None:
        """Delete one object (absent is fine).

        Through boto3, not pyarrow: pyarrow's ``delete_file`` puts an empty
        "directory marker" object when it deletes the last file of a prefix, and
        such markers show up to crawlers and to ``ListObjects`` users as junk.
        """
        bucket, _, key = self.full_path(path).partition("/")
        self._client().delete_object(Bucket=bucket, Key=key)

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self._endpoint, region_name=self._region)
        return self._s3

    def _put_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(self.full_path(path)) as out:
            out.write(data)
