# Copyright (c) Canopy authors.
"""Canopy's exception hierarchy, keyed on the C API's error codes.

Every failing call raises a subclass of :class:`CanopyError` chosen by its
code (``canopy_code_t`` in ``canopy/c.h``, ``canopy::Code`` in C++), with
the engine's message, e.g. ``PermissionDenied("permission device.assign
missing on account 'acme-a' (user 'a@acme.example')")``.

A few classes also derive from the matching built-in exception, so generic
handlers work: :class:`NotFound` is a :class:`LookupError` and
:class:`InvalidArgument` a :class:`ValueError`. Passing a value of the wrong
Python type (a number where a name is expected) raises the built-in
:class:`TypeError` before anything reaches the library.
"""

OK = 0
NOT_FOUND = 1
INVALID_ARGUMENT = 2
ALREADY_EXISTS = 3
FAILED_PRECONDITION = 4
PERMISSION_DENIED = 5
CORRUPTION = 6
IO_ERROR = 7
NOT_SUPPORTED = 8
INTERNAL = 9
ABORTED = 10
COMPACTED = 11
UNAVAILABLE = 12


class CanopyError(Exception):
    """Base class of every error Canopy reports.

    Attributes:
        code: the numeric code (``canopy.errors.NOT_FOUND``...).
        code_name: its stable name (``"not_found"``...).
        message: the engine's message, meant for a person.
    """

    code = INTERNAL
    code_name = "internal"

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message or self.code_name


class NotFound(CanopyError, LookupError):
    """An id, key, login, role or file does not exist."""

    code = NOT_FOUND
    code_name = "not_found"


class InvalidArgument(CanopyError, ValueError):
    """Malformed input: empty, over-long or invalid UTF-8 text, a bad
    permission name, limit or cursor, a value out of range."""

    code = INVALID_ARGUMENT
    code_name = "invalid_argument"


class AlreadyExists(CanopyError):
    """A unique key, login, role name or membership is taken."""

    code = ALREADY_EXISTS
    code_name = "already_exists"


class FailedPrecondition(CanopyError):
    """The current state forbids the call: sub-accounts still there, a
    cycle, the depth limit, a closed database..."""

    code = FAILED_PRECONDITION
    code_name = "failed_precondition"


class PermissionDenied(CanopyError):
    """The actor lacks a permission on an account; the message names both."""

    code = PERMISSION_DENIED
    code_name = "permission_denied"


class Corruption(CanopyError):
    """Stored bytes are not what Canopy wrote (or not a Canopy database).

    ``problems`` holds the integrity check's findings when it raised this.
    """

    code = CORRUPTION
    code_name = "corruption"

    def __init__(self, message="", problems=None):
        super().__init__(message)
        self.problems = list(problems or [])


class IoError(CanopyError):
    """The file system or RocksDB failed (a locked folder, a full disk...).

    Named after the code ``io_error``; it is not the built-in ``IOError``.
    """

    code = IO_ERROR
    code_name = "io_error"


class NotSupported(CanopyError):
    """The call or the database is not supported, e.g. a database written
    in a newer storage format."""

    code = NOT_SUPPORTED
    code_name = "not_supported"


class Internal(CanopyError):
    """A bug in Canopy; please report it with the message."""

    code = INTERNAL
    code_name = "internal"


class Aborted(CanopyError):
    """A long operation was cancelled by its caller (a progress callback
    that returned False)."""

    code = ABORTED
    code_name = "aborted"


class Compacted(CanopyError):
    """A change-log revision was trimmed by retention; the message names
    the oldest revision still kept."""

    code = COMPACTED
    code_name = "compacted"


class Unavailable(CanopyError):
    """A service the database needs does not answer: for a replica, etcd
    (no quorum, or no endpoint reachable). Reads go on locally; a write that
    failed this way may still have been committed (read back to know). Also
    a read-only or follower open that kept finding files gone as a busy
    writer replaced them: try again."""

    code = UNAVAILABLE
    code_name = "unavailable"


_BY_CODE = {
    cls.code: cls
    for cls in (NotFound, InvalidArgument, AlreadyExists, FailedPrecondition,
                PermissionDenied, Corruption, IoError, NotSupported, Internal,
                Aborted, Compacted, Unavailable)
}


def error_for(code, message):
    """Returns the exception for a non-OK ``code`` with ``message``.

    Codes unknown to this version of the package (a newer library may add
    some) become a plain :class:`CanopyError` carrying the code.
    """
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    err = CanopyError(message)
    err.code = code
    err.code_name = "unknown"
    return err
