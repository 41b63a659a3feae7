# Copyright (c) Canopy authors.
"""Loads libcanopy and declares the prototype of every C API function.

Where the library comes from, in order:

1. the ``CANOPY_LIBRARY`` environment variable (a path to ``libcanopy.so``);
2. when ``cmake --install`` put this package in place, the library it
   installed beside it in the same prefix (``canopy/_installed.py``, written
   by the install, says where, relative to the package);
3. a ``libcanopy.so`` (or ``libcanopy.dylib``) next to this package, or in
   the folder that holds it;
4. ``ctypes.util.find_library("canopy")`` (the system's library path, e.g.
   a prefix known to ``ldconfig``).

The prototypes come from ``canopy._signatures``, which the tests check
against ``include/canopy/c.h``; loading also checks that the library has
every function of the table (an older libcanopy lacks some).
"""

import ctypes
import ctypes.util
import os

from canopy._signatures import PROGRESS_FN, SIGNATURES  # noqa: F401 - PROGRESS_FN is public here

_NAMES = ("libcanopy.so", "libcanopy.dylib")


def _candidates():
    """Yields the places to look for libcanopy, in order."""
    env = os.environ.get("CANOPY_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        from canopy import _installed
    except ImportError:
        _installed = None
    if _installed is not None:
        yield os.path.normpath(os.path.join(here, _installed.LIBRARY))
    for folder in (here, os.path.dirname(here)):
        for name in _NAMES:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                yield path
    found = ctypes.util.find_library("canopy")
    if found:
        yield found


def load():
    """Loads libcanopy and declares every prototype; returns the CDLL.

    Raises ImportError naming what was tried when no library loads or when
    it lacks a function this package needs (an older libcanopy).
    """
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        missing = [name for name in SIGNATURES if not hasattr(lib, name)]
        if missing:
            raise ImportError("libcanopy at %s lacks %s; it is older than this "
                              "package" % (path, ", ".join(missing[:5])))
        for name, (restype, argtypes) in SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    raise ImportError(
        "cannot load libcanopy: set CANOPY_LIBRARY to the path of libcanopy.so, "
        "put it next to the canopy package, or install it where the loader "
        "looks" + ("; tried: " + "; ".join(tried) if tried else ""))


lib = load()
