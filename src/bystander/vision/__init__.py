"""The frame pipeline: detect, track, redact; video and image I/O (docs/architecture.md).

This package uses only configuration and errors; measurement (``bystander.measure``), the
files job (``bystander.jobs``) and the capture guard build on it, never the reverse.
"""
