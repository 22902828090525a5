"""Errors Bystander reports to users: one clear line each, never a traceback by default."""

from __future__ import annotations


class BystanderError(Exception):
    """Base class: an error whose message is fit to show a user as one line."""

    exit_code: int = 1


class InputError(BystanderError):
    """The input cannot be read: missing, unreadable, corrupt, truncated or empty."""


class UnsupportedFormatError(InputError):
    """The input is not a video or image format Bystander handles."""


class LimitError(InputError):
    """The input exceeds a safety limit (for example absurd frame dimensions)."""


class OutputError(BystanderError):
    """The output cannot be written (exists already, unwritable, would overwrite the input)."""


class DetectorError(BystanderError):
    """The face detector could not be loaded or failed on a frame."""
