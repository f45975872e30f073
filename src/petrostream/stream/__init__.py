"""Streams with Kinesis semantics: the protocol (`base`) and its backends (`local`, `kinesis`)."""
