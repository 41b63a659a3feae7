# Copyright (c) Canopy authors.
"""Conversions between Python values and the C API's, and the call helper.

Inputs are checked here before anything reaches the library: the wrong
Python type is a :class:`TypeError`; text is encoded as UTF-8 (lone
surrogates pass through, so the engine judges invalid UTF-8 and says so);
a NUL character, which a C string cannot carry, is refused here in the
engine's words but naming the Python argument (``name contains a NUL
byte``, where the engine, checking a field, says ``group name ...``).
Outputs are decoded and copied at once, so nothing
handed to the caller points into library memory.
"""

import contextlib
import ctypes
import os

from canopy import errors
from canopy._lib import lib

_U64_MAX = (1 << 64) - 1


class Use:
    """A call's hold on an open handle (what ``Db._h()`` returns): ctypes
    passes it as the handle itself, and the handle is not closed while any
    hold is alive. :func:`call` lets go of its holds when the C function
    returns; one dropped without a call (an argument refused before it)
    lets go when it is collected.

    A KeyboardInterrupt may come between any two steps of Python code, so
    the hold is one entry of its owner's table, keyed by the Use (made
    first, then entered in one step), and letting go removes that entry
    (in one step, and again without harm). The entry refers to the Use
    weakly: one whose letting go an interrupt cut short, even inside
    ``__del__``, is dead once collected, and its owner drops it
    (``Db._live_holds``)."""

    __slots__ = ("_as_parameter_", "_owner", "_thread", "__weakref__")

    def __init__(self, owner, thread):
        self._as_parameter_ = None
        self._owner = owner
        self._thread = thread

    def release(self):
        owner = getattr(self, "_owner", None)  # None: an __init__ cut short
        if owner is not None:
            owner._release(id(self))
            self._owner = None

    def __del__(self):
        # What __del__ raises is only printed: a Ctrl-C landing here must
        # not cut the letting go short, so it is tried again.
        for _ in range(100):
            try:
                self.release()
                return
            except KeyboardInterrupt:
                pass


def call(fn, *args):
    """Calls a fallible C function with ``args`` plus an errmsg
    out-parameter; raises the :mod:`canopy.errors` class of a non-OK code
    with the library's message (which it frees). Holds on a handle
    (:class:`Use`) among ``args`` are let go once it returns."""
    err = ctypes.c_void_p()
    try:
        code = fn(*args, ctypes.byref(err))
        message = ""
        if err.value:
            message = ctypes.string_at(err.value).decode("utf-8", "replace")
    finally:
        for a in args:
            if type(a) is Use:
                a.release()
        if err.value:  # freed whatever happens (an interrupt included)
            lib.canopy_free(err)
    if code != errors.OK:
        raise errors.error_for(code, message)


def seconds(value, what, optional=False):
    """A number of seconds >= 0 as a float (``float("inf")``, or an int too
    large for a float: no limit); None stays None when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a number of seconds%s, not %s" %
                        (what, " or None" if optional else "", type(value).__name__))
    if value != value or value < 0:
        raise errors.InvalidArgument("%s %r is not a number of seconds >= 0" % (what, value))
    try:
        return float(value)
    except OverflowError:  # an int past float's range: longer than any wait
        return float("inf")


def text(value, what, optional=False):
    """``value`` (a str) as NUL-terminated UTF-8 bytes; None stays None
    when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be a str%s, not %s" %
                        (what, " or None" if optional else "", type(value).__name__))
    if "\0" in value:
        raise errors.InvalidArgument("%s contains a NUL byte" % what)
    return value.encode("utf-8", "surrogatepass")


def path(value, what, optional=False):
    """A file or folder name: a str, or an ``os.PathLike`` of one
    (``pathlib.Path``), as the file system's bytes (``os.fsencode``: a name
    Python read from the file system, with bytes that are not UTF-8, names
    that same file). Bytes are refused."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be a str or an os.PathLike of str%s, not %s" %
                        (what, " or None" if optional else "", type(value).__name__))
    if "\0" in value:
        raise errors.InvalidArgument("%s contains a NUL byte" % what)
    try:
        return os.fsencode(value)
    except UnicodeEncodeError as e:
        raise errors.InvalidArgument("%s cannot be a file name: %s" % (what, e.reason)) from None


def texts(values, what):
    """A list of str as a ``const char*`` array and its length."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError("%s must be a list of str, not %s" % (what, type(values).__name__))
    encoded = [text(v, "%s[%d]" % (what, i)) for i, v in enumerate(values)]
    array = (ctypes.c_char_p * max(1, len(encoded)))(*encoded)
    return array, len(encoded)


def ident(value, what, optional=False):
    """An engine id (an int in 1..2**64-1); None is 0 ("none") when
    ``optional``."""
    if value is None and optional:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int id%s, not %s" %
                        (what, " or None" if optional else "", type(value).__name__))
    if not 0 <= value <= _U64_MAX:
        raise errors.InvalidArgument("%s %d is not a valid id" % (what, value))
    return value


def idents(values, what):
    """A list of int ids as a ``const uint64_t*`` array and its length."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError("%s must be a list of int ids, not %s" % (what, type(values).__name__))
    ids = [ident(v, "%s[%d]" % (what, i)) for i, v in enumerate(values)]
    array = (ctypes.c_uint64 * max(1, len(ids)))(*ids)
    return array, len(ids)


def actor(value, what="actor"):
    """An actor or viewer: a user id, or canopy.SYSTEM_ACTOR (0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be a user id (int) or canopy.SYSTEM_ACTOR, not %s" %
                        (what, type(value).__name__))
    if not 0 <= value <= _U64_MAX:
        raise errors.InvalidArgument("%s %d is not a valid user id" % (what, value))
    return value


def flag(value, what):
    """A bool as the C API's int."""
    if not isinstance(value, bool):
        raise TypeError("%s must be a bool, not %s" % (what, type(value).__name__))
    return 1 if value else 0


def count(value, what, maximum=_U64_MAX):
    """A non-negative int (limits, levels, sizes)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s must be an int, not %s" % (what, type(value).__name__))
    if not 0 <= value <= maximum:
        raise errors.InvalidArgument("%s %d is out of range" % (what, value))
    return value


def string(raw):
    """Decodes a ``const char*`` result (bytes or None) to str."""
    return "" if raw is None else raw.decode("utf-8", "replace")


def optional_id(value):
    """0 ("none") as None."""
    return value or None


@contextlib.contextmanager
def attributes(mapping, what="attributes"):
    """A ``canopy_attributes_t`` holding ``mapping`` (None: a NULL
    handle), destroyed on exit."""
    if mapping is None:
        yield None
        return
    if not hasattr(mapping, "items"):
        raise TypeError("%s must be a dict of str to str, not %s" %
                        (what, type(mapping).__name__))
    items = [(text(k, "%s name" % what), text(v, "%s[%r]" % (what, k)))
             for k, v in mapping.items()]
    handle = lib.canopy_attributes_create()
    if not handle:
        raise MemoryError("canopy_attributes_create")
    try:
        for name, value in items:
            call(lib.canopy_attributes_set, handle, name, value)
        yield handle
    finally:
        lib.canopy_attributes_destroy(handle)


@contextlib.contextmanager
def builder(create, destroy, setters):
    """A builder handle (c.h's ``canopy_<object>_spec_t`` and ``_patch_t``)
    made by ``create``, filled by calling each ``(setter, value)`` of
    ``setters`` whose value is not None (a value the library refuses
    raises its error), and destroyed on exit."""
    handle = create()
    if not handle:
        raise MemoryError("out of memory for a builder")
    try:
        for setter, value in setters:
            if value is not None:
                call(setter, handle, value)
        yield handle
    finally:
        destroy(handle)


def attributes_of(handle):
    """A dict copy of a borrowed ``canopy_attributes_t``."""
    out = {}
    for i in range(lib.canopy_attributes_count(handle)):
        out[string(lib.canopy_attributes_name(handle, i))] = string(
            lib.canopy_attributes_value(handle, i))
    return out


@contextlib.contextmanager
def handle_out(destroy):
    """An out-parameter for a result handle, destroyed on exit."""
    out = ctypes.c_void_p()
    try:
        yield out
    finally:
        if out.value:
            destroy(out)
