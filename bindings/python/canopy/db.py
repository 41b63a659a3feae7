# Copyright (c) Canopy authors.
"""The database: :func:`open` and :class:`Db`, over libcanopy's C API.

Conventions of every method:

* Mutations take the ``actor`` first: a user id, or
  :data:`canopy.SYSTEM_ACTOR` (the platform, allowed everything). Queries
  take a ``viewer`` the same way.
* Ids are ints; an optional account is ``None`` (no parent, no receiver...).
* Entity kinds, access defaults and sort orders are the enums of
  :mod:`canopy.model` or their lower-case names (``"device"``).
* Errors raise :mod:`canopy.errors` classes; the wrong Python type raises
  :class:`TypeError` before the library is called.

A :class:`Db` may be shared by threads (libcanopy is thread-safe and ctypes
releases the GIL during calls); a :class:`VisibleStream` is used by one
thread at a time. :meth:`Db.close` on one thread while others are inside
calls waits for those calls to return (a :meth:`Db.wait_for_changes` ends
early) and then closes; calls that come later raise FailedPrecondition.
Closing from inside one of its own calls (a progress callback) raises
FailedPrecondition, as it would wait for itself.

In a process forked from one that had opened a database, every call raises
FailedPrecondition (the storage engine's threads stay in the parent) and
:meth:`Db.close` lets go of the handle untouched: open databases in the
process that uses them (``multiprocessing``'s ``spawn`` method does).
"""

import atexit
import ctypes
import json
import os
import signal
import threading
import time
import weakref

from canopy import _convert as cv
from canopy import errors
from canopy import model
from canopy._lib import PROGRESS_FN, lib
from canopy._signatures import LOG_FN

_MAX_U32 = (1 << 32) - 1
_COMPRESSIONS = {"default": 0, "none": 1, "lz4": 2, "zstd": 3}
_LOG_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}
_LOG_LEVEL_NAMES = {v: k for k, v in _LOG_LEVELS.items()}


def _choice(value, table, what):
    """One of the names of ``table`` (e.g. ``"zstd"``) as its C value."""
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (what, type(value).__name__))
    if value not in table:
        raise errors.InvalidArgument("%s must be one of %s, not %r" %
                                     (what, ", ".join(sorted(table, key=table.get)), value))
    return table[value]


def version():
    """The library's semantic version, e.g. ``"0.1.0"``."""
    return cv.string(lib.canopy_version())


def restore(backup, folder, progress=None):
    """Makes ``folder`` (absent, or an empty folder) a database restored
    from ``backup`` (a folder :meth:`Db.backup` or :meth:`Db.checkpoint`
    wrote): copied under a scratch name beside it, synced, integrity-checked,
    then renamed into place; the backup is not changed. ``progress(done,
    total)`` hears the copy (bytes; last with done == total), then the check
    from 0 (entities); returning False cancels, and ``folder`` is left as it
    was.

    Raises NotFound (no backup), InvalidArgument (not a folder; ``folder``
    inside the backup), AlreadyExists (``folder`` not empty),
    FailedPrecondition (``backup`` is a database open for writing),
    Corruption, IoError, Aborted (cancelled)."""
    p = _Progress(progress)
    p.run(lib.canopy_restore, cv.path(backup, "backup"), cv.path(folder, "folder"), p.c_fn, None)


def storage_format_version():
    """The on-disk format version libcanopy writes."""
    return lib.canopy_storage_format_version()


def open(path, *, create_if_missing=True, error_if_exists=False, read_only=False,  # noqa: A001
         follower=False, follower_dir=None, follower_catch_up_ms=0, max_depth=32, sync=True, block_cache_bytes=256 << 20, cursor_ttl_seconds=300,
         max_open_cursors=1024, log_retention_count=1000000, log_retention_seconds=0,
         etcd=None, prefix="canopy", checkpoint_dir=None, checkpoint_every=100000,
         compression="default", wal_dir=None, max_open_files=-1,
         background_write_bytes_per_second=0, statistics=False, catalog_image=True, log=None,
         log_level="warn"):
    """Opens (or creates) the database in the folder ``path``.

    Use it as a context manager, which closes the database on exit::

        with canopy.open("./canopy-data") as db:
            ...

    The keyword options are ``canopy::Options`` (see ``options.h``):
    ``sync=False`` skips the fsync per mutation (bulk loads you can redo);
    ``read_only=True`` opens beside a process that has the database open for
    writing: a view as of the open, every write raises FailedPrecondition;
    ``follower=True`` opens beside such a process too, but the view moves:
    :meth:`Db.catch_up` (or every ``follower_catch_up_ms``, 0: only on
    request) brings it to the writer's latest revision; ``follower_dir`` is
    a folder of the follower's own (None: a scratch one, removed on close);
    ``follower`` and ``read_only`` exclude each other (InvalidArgument);
    ``max_depth`` is fixed when the database is created;
    ``log_retention_count`` / ``log_retention_seconds`` (0: no limit) trim
    the change log (reading a trimmed revision raises Compacted).

    ``etcd`` (a list of client URLs, or one comma-separated string) opens the
    folder as a replica of the change log kept in etcd under ``prefix``
    (see docs/replication.md): every replica may write, and each applies the
    others' writes in the same order. ``checkpoint_dir`` is where replicas
    write checkpoints (every ``checkpoint_every`` revisions) and where a new
    replica, or one the log in etcd was trimmed past while it was closed,
    starts from the newest one.

    Storage tuning and diagnostics: ``compression`` (``"default"``: LZ4, and
    ZSTD for the oldest level; ``"none"``, ``"lz4"``, ``"zstd"``),
    ``wal_dir`` (a folder for the write-ahead log), ``max_open_files`` (-1:
    all open; else at least 16), ``background_write_bytes_per_second`` (0:
    no cap), ``statistics`` (collect RocksDB's counters, read with
    ``db.property("rocksdb.statistics")``), ``catalog_image`` (False: no
    catalog image is written at close nor read at open, so every open
    rebuilds the catalog from the stored records), ``log`` (a callable taking
    ``(level, message)``, level ``"debug"``, ``"info"``, ``"warn"`` or
    ``"error"``, for RocksDB's and Canopy's messages at ``log_level`` and
    above, instead of a LOG file in the folder; called from RocksDB's
    threads too, it must not call the database; what it raises is ignored).

    Raises:
        NotFound: the folder is missing and ``create_if_missing`` is False.
        AlreadyExists: ``error_if_exists`` and there is a database.
        InvalidArgument: a bad option value.
        IoError: e.g. another process has the database open.
        Corruption / NotSupported: not a Canopy database, or a newer format.
    """
    return Db(path, create_if_missing=create_if_missing, error_if_exists=error_if_exists,
              read_only=read_only, follower=follower, follower_dir=follower_dir,
              follower_catch_up_ms=follower_catch_up_ms, max_depth=max_depth, sync=sync, block_cache_bytes=block_cache_bytes,
              cursor_ttl_seconds=cursor_ttl_seconds, max_open_cursors=max_open_cursors,
              log_retention_count=log_retention_count,
              log_retention_seconds=log_retention_seconds, etcd=etcd, prefix=prefix,
              checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every,
              compression=compression, wal_dir=wal_dir, max_open_files=max_open_files,
              background_write_bytes_per_second=background_write_bytes_per_second,
              statistics=statistics, catalog_image=catalog_image, log=log, log_level=log_level)


def _slot_handle():
    """A ``_handle`` attribute kept in the object's ctypes slot ``_slot``,
    which the C call that makes the handle writes into directly."""
    return property(lambda self: self._slot.value,
                    lambda self, value: setattr(self._slot, "value", value))


# At interpreter exit. Python joins the threads that are not daemons, runs
# atexit's functions, then ends any thread that calls back into it (a
# progress or log callback, on a daemon thread or on one of the storage
# engine's) inside the library, which aborts the process. So, first: the
# calls in flight that take a progress callback are cancelled at their next
# progress call and waited for, and every database still open is closed
# (its log callback silent from then on). Such a call begun later is
# refused (Aborted) before it starts.
_exiting = [False]
_running = {}  # id of each _Progress in a call -> the process it runs in
_open_dbs = weakref.WeakSet()


def _at_exit():
    _exiting[0] = True
    me = os.getpid()
    deadline = time.monotonic() + 30
    while me in list(_running.values()) and time.monotonic() < deadline:
        time.sleep(0.005)
    for db in list(_open_dbs):
        try:
            db.close()
        except Exception:  # noqa: BLE001 - nothing can report it now
            pass


atexit.register(_at_exit)

# close() from inside a call of the database on this thread (a progress
# callback) raises FailedPrecondition and notes it here: the progress call
# it came from then cancels that call, even if the callback caught it.
_refused_close = threading.local()


class _Progress:
    """A Python progress callback as a C one. The callable gets
    ``(done, total)``; returning False cancels (None goes on). An exception
    it raises cancels the operation and is raised again afterwards.

    Ctrl-C cancels too, with or without a callable. Python runs its SIGINT
    handler only between two steps of Python code, which a long C call
    reaches only in this callback: raised there, the KeyboardInterrupt
    would come before the callback's own ``try`` and be lost in ctypes
    (the operation went on and committed). So, on the main thread and
    while SIGINT has Python's default handler, ``run`` puts in a handler
    that only notes the signal; the next progress call cancels (Aborted,
    nothing changed) and ``run`` raises KeyboardInterrupt. A signal after
    the last progress call finds the operation done: it is raised once the
    call returns, and the operation's result stands."""

    def __init__(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("progress must be callable or None, not %s" % type(fn).__name__)
        self._fn = fn
        self.error = None
        self.interrupted = False
        # Always a callback: it is where Ctrl-C cancels.
        self.c_fn = PROGRESS_FN(self._call)

    def _call(self, _arg, done, total):
        try:
            if self.interrupted or _exiting[0]:
                return 0
            if self._fn is None:
                return 1
            _refused_close.error = None
            go_on = self._fn(done, total) is not False
            refused, _refused_close.error = getattr(_refused_close, "error", None), None
            if refused is not None:  # close() was refused in the callback
                self.error = refused
                return 0
            return 1 if go_on else 0
        except BaseException as e:  # noqa: B902 - handed back to the caller below
            self.error = e
            return 0

    def _note_interrupt(self, _signum, _frame):
        self.interrupted = True

    def run(self, fn, *args):
        """Calls the C function ``fn`` with ``args`` (which hold ``c_fn``)
        and re-raises an exception the Python callback raised, or the
        KeyboardInterrupt that cancelled it."""
        _running[id(self)] = os.getpid()  # then the flag: see _at_exit
        if _exiting[0]:
            _running.pop(id(self), None)
            raise errors.Aborted("not started: the interpreter is exiting")
        previous = None
        try:
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
                previous = signal.signal(signal.SIGINT, self._note_interrupt)
            try:
                cv.call(fn, *args)
            except errors.Aborted:
                if self.error is not None:
                    raise self.error
                if self.interrupted:
                    raise KeyboardInterrupt from None
                raise
        finally:
            _running.pop(id(self), None)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if self.error is not None:  # raised by the final progress call
            raise self.error
        if self.interrupted:  # after the last progress call: the call was done
            raise KeyboardInterrupt


class VisibleStream:
    """A stream over a whole visible selection on one snapshot (libcanopy's
    streaming iterator): iterate it for :class:`canopy.VisibleItem`\\ s.

    Use it as a context manager, or let iteration finish (it then closes
    itself); :meth:`Db.close` closes streams still open. An error met while
    streaming is raised by the iteration. Steps and :meth:`close` take
    turns: a close on another thread waits for the step in progress.
    """

    def __init__(self, db):
        self._db = db
        # The C call that makes the iterator writes its handle straight into
        # this slot of a stream already registered with the Db: no moment
        # (a KeyboardInterrupt between two lines) where the handle is the
        # library's and no object of ours owns it.
        self._slot = ctypes.c_void_p()
        self._closed_by_db = False  # closed by Db.close before its end
        # Held by each step and by close: the handle is never destroyed
        # under a step. Reentrant: a step that reaches the end closes.
        self._lock = threading.RLock()

    _handle = _slot_handle()

    def __iter__(self):
        return self

    def __next__(self):
        self._db._refuse_if_forked()  # before the lock (see Db._refuse_if_forked)
        with self._lock:
            return self._step()

    def _step(self):
        h = self._handle
        if h is None:
            if self._closed_by_db:
                raise errors.FailedPrecondition(
                    "the stream was closed with its database before its end")
            raise StopIteration
        use = self._db._h()  # the database stays open until this step ends
        try:
            if not lib.canopy_visible_iterator_valid(h):
                try:
                    cv.call(lib.canopy_visible_iterator_status, h)
                finally:
                    self.close()
                raise StopIteration
            item = model.VisibleItem(
                id=lib.canopy_visible_iterator_id(h),
                key=cv.string(lib.canopy_visible_iterator_key(h)),
                name=cv.string(lib.canopy_visible_iterator_name(h)),
                type=cv.string(lib.canopy_visible_iterator_type(h)),
                owner=lib.canopy_visible_iterator_owner(h))
            lib.canopy_visible_iterator_next(h)
            return item
        finally:
            use.release()

    @property
    def closed(self):
        """True once the stream has released its snapshot."""
        return self._handle is None

    def close(self):
        """Releases the iterator and its snapshot. Idempotent."""
        self._close(by_db=False)

    def _close(self, by_db):
        # Under the lock: a close here and one by Db.close on another thread
        # never both destroy the handle, nor destroy it under a step.
        if self._db._pid != os.getpid():  # a forked child: see Db.close
            self._handle = None
            return
        with self._lock:
            h, self._handle = self._handle, None
            if h is None:
                return
            if by_db:
                self._closed_by_db = True
            lib.canopy_visible_iterator_destroy(h)
        self._db._forget(self._db._streams, self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Db:
    """An open Canopy database. Create it with :func:`canopy.open`."""

    def __init__(self, path, **options):
        self._init_holds()
        self._log_fn = None  # the C callback; kept alive while open
        self.path = path
        path_bytes = cv.path(path, "path")
        self.path = os.fsdecode(path_bytes)  # a str, as given or from a Path
        log = options.get("log")
        if log is not None and not callable(log):
            raise TypeError("log must be callable, not %s" % type(log).__name__)
        opts = lib.canopy_options_create()
        if not opts:
            raise MemoryError("canopy_options_create")
        try:
            cv.call(lib.canopy_options_set_create_if_missing,
                opts, cv.flag(options["create_if_missing"], "create_if_missing"))
            cv.call(lib.canopy_options_set_error_if_exists,
                opts, cv.flag(options["error_if_exists"], "error_if_exists"))
            cv.call(lib.canopy_options_set_read_only,
                opts, cv.flag(options.get("read_only", False), "read_only"))
            cv.call(lib.canopy_options_set_follower,
                opts, cv.flag(options.get("follower", False), "follower"))
            if options.get("follower_dir") is not None:
                cv.call(lib.canopy_options_set_follower_dir, opts,
                        cv.path(options["follower_dir"], "follower_dir"))
            cv.call(lib.canopy_options_set_follower_catch_up_ms, opts,
                    cv.count(options.get("follower_catch_up_ms", 0), "follower_catch_up_ms",
                             _MAX_U32))
            cv.call(lib.canopy_options_set_max_depth,
                opts, cv.count(options["max_depth"], "max_depth", _MAX_U32))
            cv.call(lib.canopy_options_set_sync, opts, cv.flag(options["sync"], "sync"))
            cv.call(lib.canopy_options_set_block_cache_bytes,
                opts, cv.count(options["block_cache_bytes"], "block_cache_bytes"))
            cv.call(lib.canopy_options_set_cursor_ttl_seconds,
                opts, cv.count(options["cursor_ttl_seconds"], "cursor_ttl_seconds", _MAX_U32))
            cv.call(lib.canopy_options_set_max_open_cursors,
                opts, cv.count(options["max_open_cursors"], "max_open_cursors"))
            cv.call(lib.canopy_options_set_log_retention_count,
                opts, cv.count(options.get("log_retention_count", 1000000),
                               "log_retention_count"))
            cv.call(lib.canopy_options_set_log_retention_seconds,
                opts, cv.count(options.get("log_retention_seconds", 0), "log_retention_seconds"))
            etcd = options.get("etcd")
            if etcd is not None:
                if not isinstance(etcd, str):
                    etcd = ",".join(cv.text(u, "etcd").decode("utf-8") for u in etcd)
                cv.call(lib.canopy_options_set_etcd_endpoints, opts, cv.text(etcd, "etcd"))
                cv.call(lib.canopy_options_set_replication_prefix,
                    opts, cv.text(options.get("prefix", "canopy"), "prefix"))
                if options.get("checkpoint_dir"):
                    cv.call(lib.canopy_options_set_checkpoint_dir,
                        opts, cv.path(options["checkpoint_dir"], "checkpoint_dir"))
                cv.call(lib.canopy_options_set_checkpoint_every,
                    opts, cv.count(options.get("checkpoint_every", 100000), "checkpoint_every"))
            cv.call(lib.canopy_options_set_compression, opts,
                    _choice(options.get("compression", "default"), _COMPRESSIONS, "compression"))
            if options.get("wal_dir") is not None:
                cv.call(lib.canopy_options_set_wal_dir, opts,
                        cv.path(options["wal_dir"], "wal_dir"))
            max_open_files = options.get("max_open_files", -1)
            if not isinstance(max_open_files, int) or isinstance(max_open_files, bool):
                raise TypeError("max_open_files must be an int, not %s" %
                                type(max_open_files).__name__)
            if not -(1 << 31) <= max_open_files < (1 << 31):
                raise errors.InvalidArgument("max_open_files %d is out of range" % max_open_files)
            cv.call(lib.canopy_options_set_max_open_files, opts, max_open_files)
            cv.call(lib.canopy_options_set_background_write_bytes_per_second, opts,
                    cv.count(options.get("background_write_bytes_per_second", 0),
                             "background_write_bytes_per_second"))
            cv.call(lib.canopy_options_set_statistics, opts,
                    cv.flag(options.get("statistics", False), "statistics"))
            cv.call(lib.canopy_options_set_catalog_image, opts,
                    cv.flag(options.get("catalog_image", True), "catalog_image"))
            cv.call(lib.canopy_options_set_log_level, opts,
                    _choice(options.get("log_level", "warn"), _LOG_LEVELS, "log_level"))
            if log is not None:
                def relay(_arg, level, message, length):
                    try:
                        log(_LOG_LEVEL_NAMES.get(level, str(level)),
                            ctypes.string_at(message, length).decode("utf-8", "replace"))
                    except Exception:  # noqa: BLE001 - nothing may reach RocksDB's threads
                        pass
                self._log_fn = LOG_FN(relay)
                cv.call(lib.canopy_options_set_log, opts, self._log_fn, None)
            cv.call(lib.canopy_db_open, opts, path_bytes, ctypes.byref(self._slot))
        finally:
            lib.canopy_options_destroy(opts)
        _open_dbs.add(self)

    # ---- Lifetime --------------------------------------------------------

    _handle = _slot_handle()

    def _init_holds(self):
        # The C call that opens the database (or a snapshot) writes its
        # handle straight into this slot (no moment where it is no one's).
        self._slot = ctypes.c_void_p()
        # Calls in flight hold the handle (cv.Use): close waits for them.
        # Reentrant: a hold dropped by the garbage collector may be let go
        # on a thread that is inside this lock already.
        self._cond = threading.Condition(threading.RLock())
        # id of each cv.Use -> (a weak reference to it, the thread it is for)
        self._holds = {}
        self._closing = False
        # Streams and snapshots still open, changed and read under _cond.
        self._streams = weakref.WeakSet()
        self._snapshots = weakref.WeakSet()
        # The process that opened it. In a forked child the library refuses
        # every call; close() there lets go of the handle without waiting
        # for threads or locks of the parent (see close).
        self._pid = os.getpid()

    def _adopt(self, into, obj):
        """Registers a new stream or snapshot for close(); called while the
        call that made it still holds the handle, so a close on another
        thread cannot run between its making and its registering."""
        with self._cond:
            into.add(obj)

    def _forget(self, into, obj):
        with self._cond:
            into.discard(obj)

    def _open_ones(self, into):
        with self._cond:
            return list(into)

    def _refuse_if_forked(self):
        """FailedPrecondition in a process forked from the one that opened
        it, before any lock is taken (one held by a thread of the parent at
        the fork stays held in the child for good)."""
        if self._pid != os.getpid():
            raise errors.FailedPrecondition(
                "cannot use a database in a process forked from the one that opened it "
                "(process %d): open databases only in the process that uses them "
                "(multiprocessing's 'spawn' or 'forkserver' start methods)" % self._pid)

    def _h(self):
        """The handle for one C call, held until that call returns."""
        self._refuse_if_forked()
        use = cv.Use(self, threading.get_ident())  # before the hold: see cv.Use
        with self._cond:
            if self._handle is None or self._closing:
                raise errors.FailedPrecondition("the database is closed")
            use._as_parameter_ = self._handle
            self._holds[id(use)] = (weakref.ref(use), use._thread)  # taken in one step
        return use

    def _live_holds(self):
        """Whether a call holds the handle, with _cond held: drops the holds
        of Uses already collected (whose letting go an interrupt cut short;
        while _cond is held, no new hold can take a dead one's key)."""
        for key, hold in list(self._holds.items()):
            if hold[0]() is None and self._holds.get(key) is hold:
                self._holds.pop(key, None)
        return bool(self._holds)

    def _release(self, key):
        # The hold goes in one step (a dict's pop), before the lock, so that
        # no Ctrl-C can come between taking the lock and letting go.
        if self._holds.pop(key, None) is not None and not self._holds:
            with self._cond:
                self._cond.notify_all()

    @property
    def closed(self):
        """True once :meth:`close` has begun."""
        return self._handle is None or self._closing

    def close(self):
        """Closes open streams, flushes and closes the database. Calls other
        threads are inside are waited for; later calls raise
        FailedPrecondition; closing again does nothing. From inside one of
        its own calls (a progress callback) it raises FailedPrecondition.
        In a process forked from the one that opened it, where every other
        call raises FailedPrecondition, it lets go of the handle and returns
        (the parent's database is untouched)."""
        if self._pid != os.getpid():
            # A forked child: the handle is the parent's (its threads and
            # locks, Python's too, are not this process's): let go of it
            # untouched.
            self._handle = None
            return
        if self._inside(threading.get_ident()):
            refused = errors.FailedPrecondition(
                "close() from inside a call of this database (a progress callback?) "
                "would wait for that call to end; that call is cancelled")
            _refused_close.error = refused
            raise refused
        with self._cond:
            if self._handle is None:
                return
            if self._closing:
                # Another thread is closing it: this close ends with that one.
                while self._handle is not None and self._closing:
                    self._cond.wait()
                return
            self._closing = True
            while self._live_holds():
                # In steps: a release cut short by Ctrl-C between dropping
                # its hold and its notify must not leave this waiting.
                self._cond.wait(0.1)
        try:
            for stream in self._open_ones(self._streams):
                stream._close(by_db=True)
            for snapshot in self._open_ones(self._snapshots):
                snapshot.close()
        except BaseException:
            self._stay_open()
            raise
        try:
            cv.call(lib.canopy_db_close, self._handle)
        except errors.FailedPrecondition:
            # Something of it is still open, and the C close did nothing:
            # still open, usable, and closable again.
            self._stay_open()
            raise
        finally:
            if self._closing:  # any other outcome frees the handle
                self._closed_now()

    def _stay_open(self):
        with self._cond:
            self._closing = False
            self._cond.notify_all()

    def _closed_now(self):
        with self._cond:  # closed: a close() waiting on another thread returns
            self._handle = None
            self._cond.notify_all()

    def _inside(self, thread):
        """Is ``thread`` inside a call of this Db or of one of its snapshots?"""
        with self._cond:
            if self._live_holds() and thread in [t for _, t in list(self._holds.values())]:
                return True
        return any(snap._inside(thread) for snap in self._open_ones(self._snapshots))

    def snapshot(self):
        """A read-only :class:`Db` fixed at the revision readers see now:
        every read on it, as any viewer, answers from that one revision
        whatever is written meanwhile (a report of many calls that agrees
        with itself); its writes raise FailedPrecondition. It costs a copy
        of the in-memory catalog: close it when done (a ``with`` block does;
        closing this Db closes its snapshots first). A follower does not
        catch up while a snapshot of it is open (:meth:`catch_up` waits
        for it, then raises Aborted); its other reads go on."""
        keep = self._h()  # held until the snapshot is registered for close()
        try:
            # Registered first; the call fills its handle (see _init_holds).
            snap = Db.__new__(Db)
            snap._init_holds()
            snap._log_fn = None
            snap.path = self.path
            snap._parent = self  # closed before it (and kept alive by it)
            self._adopt(self._snapshots, snap)
            try:
                cv.call(lib.canopy_db_open_snapshot, self._h(), ctypes.byref(snap._slot))
            except BaseException:
                snap.close()
                self._forget(self._snapshots, snap)
                raise
            return snap
        finally:
            keep.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing can report it now
            pass

    def __repr__(self):
        return "<canopy.Db %r%s>" % (getattr(self, "path", "?"),
                                     " closed" if self.closed else "")

    # ---- Accounts ----------------------------------------------------------

    def create_account(self, actor, key, name, parent=None, *, attributes=None,
                       sub_account_management=False, sub_account_access="default_off",
                       group_sharing=False):
        """Creates an account under ``parent`` (None: a root tenant, system
        actor only) and returns its id.

        Needs account.create on the parent and the parent's sub-account
        management on (unless the actor is the system). ``group_sharing``
        (root tenants: may groups be shared down) is the system actor's.

        Raises:
            AlreadyExists: the key is taken.
            NotFound: the parent (or the actor) does not exist.
            InvalidArgument: empty, over-long or invalid UTF-8 key or name.
            PermissionDenied, FailedPrecondition (management off, depth).
        """
        access, _ = model.parse_enum(model.SubAccountAccess, sub_account_access,
                                     "sub_account_access")
        out = ctypes.c_uint64()
        with cv.attributes(attributes) as attrs, cv.builder(
                lib.canopy_account_spec_create, lib.canopy_account_spec_destroy, [
                    (lib.canopy_account_spec_set_key, cv.text(key, "key")),
                    (lib.canopy_account_spec_set_name, cv.text(name, "name")),
                    (lib.canopy_account_spec_set_parent,
                     cv.ident(parent, "parent", optional=True)),
                    (lib.canopy_account_spec_set_attributes, attrs),
                    (lib.canopy_account_spec_set_sub_account_management,
                     cv.flag(sub_account_management, "sub_account_management")),
                    (lib.canopy_account_spec_set_sub_account_access, access),
                    (lib.canopy_account_spec_set_group_sharing,
                     cv.flag(group_sharing, "group_sharing")),
                ]) as spec:
            cv.call(lib.canopy_account_create, self._h(), cv.actor(actor), spec,
                    ctypes.byref(out))
        return out.value

    def get_account(self, account_id, *, viewer=None):
        """The account with that id (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_account_get, lib.canopy_account_get_as, viewer)
        with cv.handle_out(lib.canopy_account_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(account_id, "account_id"), ctypes.byref(out))
            return _account(out)

    @staticmethod
    def _viewed(plain, scoped, viewer, what="viewer"):
        """The C function and leading arguments of a read as ``viewer``
        (None: every record; else a user id or SYSTEM_ACTOR, which sees
        only what that user may see: out of its sight is NotFound, as
        missing, and left out of lists; a disabled viewer is
        PermissionDenied)."""
        if viewer is None:
            return plain, ()
        return scoped, (cv.actor(viewer, what),)

    def find_account(self, key, *, viewer=None):
        """The account with that external key (as ``viewer`` may see it).
        Raises NotFound."""
        fn, pre = self._viewed(lib.canopy_account_find, lib.canopy_account_find_as, viewer)
        with cv.handle_out(lib.canopy_account_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.text(key, "key"), ctypes.byref(out))
            return _account(out)

    def update_account(self, actor, account_id, *, name=None, attributes=None,
                       sub_account_management=None, sub_account_access=None,
                       group_sharing=None):
        """Changes the given fields in one atomic write (None keeps one);
        ``attributes`` replaces the whole map. Needs account.update for the
        name and attributes, and for the settings what
        :meth:`set_sub_account_management` and :meth:`set_sub_account_access`
        need; ``group_sharing`` only the system actor switches, on a root
        tenant."""
        access = None
        if sub_account_access is not None:
            access, _ = model.parse_enum(model.SubAccountAccess, sub_account_access,
                                         "sub_account_access")
        management = None
        if sub_account_management is not None:
            management = cv.flag(sub_account_management, "sub_account_management")
        sharing = None
        if group_sharing is not None:
            sharing = cv.flag(group_sharing, "group_sharing")
        with cv.attributes(attributes) as attrs, cv.builder(
                lib.canopy_account_patch_create, lib.canopy_account_patch_destroy, [
                    (lib.canopy_account_patch_set_name, cv.text(name, "name", optional=True)),
                    (lib.canopy_account_patch_set_attributes, attrs),
                    (lib.canopy_account_patch_set_sub_account_management, management),
                    (lib.canopy_account_patch_set_sub_account_access, access),
                    (lib.canopy_account_patch_set_group_sharing, sharing),
                ]) as patch:
            cv.call(lib.canopy_account_update, self._h(), cv.actor(actor),
                    cv.ident(account_id, "account_id"), patch)

    def set_sub_account_management(self, actor, account_id, on):
        """Turns sub-account management on or off. Needs
        account.manage_sub_accounts on the parent (root tenants: system)."""
        cv.call(lib.canopy_account_set_sub_account_management, self._h(), cv.actor(actor),
                cv.ident(account_id, "account_id"), cv.flag(on, "on"))

    def set_sub_account_access(self, actor, account_id, access):
        """Sets the sub-account access default (``"default_off"``,
        ``"default_on"``, ``"always_on"``). Needs access.grant."""
        value, _ = model.parse_enum(model.SubAccountAccess, access, "access")
        cv.call(lib.canopy_account_set_sub_account_access, self._h(), cv.actor(actor),
                cv.ident(account_id, "account_id"), value)

    def move_account(self, actor, account_id, new_parent):
        """Moves the account and its subtree under ``new_parent``,
        atomically. Raises FailedPrecondition for a cycle, a root tenant or
        the depth limit."""
        cv.call(lib.canopy_account_move, self._h(), cv.actor(actor),
                cv.ident(account_id, "account_id"), cv.ident(new_parent, "new_parent"))

    def delete_account(self, actor, account_id, receiver=None):
        """Deletes an account without sub-accounts; its entities and users
        go to ``receiver`` (required when it has any)."""
        cv.call(lib.canopy_account_delete, self._h(), cv.actor(actor),
                cv.ident(account_id, "account_id"), cv.ident(receiver, "receiver", optional=True))

    def delete_accounts(self, actor, account_ids, receiver=None):
        """Deletes several accounts (a whole branch may be given) in one
        atomic call, all or nothing."""
        if isinstance(account_ids, (str, bytes)) or not hasattr(account_ids, "__iter__"):
            raise TypeError("account_ids must be a list of int ids")
        ids = [cv.ident(i, "account_ids[%d]" % n) for n, i in enumerate(account_ids)]
        array = (ctypes.c_uint64 * max(1, len(ids)))(*ids)
        cv.call(lib.canopy_account_delete_many, self._h(), cv.actor(actor), array, len(ids),
                cv.ident(receiver, "receiver", optional=True))

    def count_owned(self, account_id, kind="device", *, viewer=None):
        """The maintained :class:`EntityCounts` of ``kind`` for the account;
        with ``viewer``, as it may know them (the subtree adds up only the
        sub-accounts it sees)."""
        k, _ = model.parse_enum(model.EntityKind, kind, "kind")
        direct, subtree = ctypes.c_uint64(), ctypes.c_uint64()
        fn, pre = self._viewed(lib.canopy_account_count_owned,
                               lib.canopy_account_count_owned_as, viewer)
        cv.call(fn, self._h(), *pre, cv.ident(account_id, "account_id"),
                k, ctypes.byref(direct), ctypes.byref(subtree))
        return model.EntityCounts(direct.value, subtree.value)

    def ancestors(self, account_id, *, viewer=None):
        """The account's ancestors, root tenant first; with ``viewer``,
        those it sees, of an account it sees."""
        fn, pre = self._viewed(lib.canopy_account_ancestors, lib.canopy_account_ancestors_as,
                               viewer)
        return self._accounts(fn, *pre, cv.ident(account_id, "account_id"))

    def descendants(self, account_id, max_levels=0, *, viewer=None):
        """The account's descendants in tree order, at most ``max_levels``
        below it (0: all); with ``viewer``, those it sees."""
        fn, pre = self._viewed(lib.canopy_account_descendants,
                               lib.canopy_account_descendants_as, viewer)
        return self._accounts(fn, *pre, cv.ident(account_id, "account_id"),
                              cv.count(max_levels, "max_levels", _MAX_U32))

    def _accounts(self, fn, *args):
        with cv.handle_out(lib.canopy_accounts_destroy) as out:
            cv.call(fn, self._h(), *args, ctypes.byref(out))
            return [_account(lib.canopy_accounts_at(out, i))
                    for i in range(lib.canopy_accounts_count(out))]

    def roots(self, *, viewer=None):
        """The root tenants' ids, in creation order; with ``viewer``, its
        top accounts (those it sees whose parent it does not), by id."""
        fn, pre = self._viewed(lib.canopy_account_roots, lib.canopy_account_roots_as, viewer)
        n = ctypes.c_size_t()
        with cv.handle_out(lib.canopy_free) as ids:  # freed whatever happens
            cv.call(fn, self._h(), *pre, ctypes.byref(ids), ctypes.byref(n))
            if not ids.value:
                return []
            array = ctypes.cast(ids, ctypes.POINTER(ctypes.c_uint64))
            return [array[i] for i in range(n.value)]

    # ---- Entities ------------------------------------------------------------

    def create_entity(self, actor, kind, key, name, owner, *, unit_id=None, type=None,  # noqa: A002
                      attributes=None):
        """Creates an entity of ``kind`` owned by ``owner``; returns its id.

        Only devices have a ``unit_id``. Needs <kind>.write on the owner.

        Raises:
            AlreadyExists: the key (per kind) or the unit id is taken.
            NotFound: the owner. InvalidArgument, PermissionDenied.
        """
        k, _ = model.parse_enum(model.EntityKind, kind, "kind")
        out = ctypes.c_uint64()
        with cv.attributes(attributes) as attrs, cv.builder(
                lib.canopy_entity_spec_create, lib.canopy_entity_spec_destroy, [
                    (lib.canopy_entity_spec_set_kind, k),
                    (lib.canopy_entity_spec_set_key, cv.text(key, "key")),
                    (lib.canopy_entity_spec_set_unit_id,
                     cv.text(unit_id, "unit_id", optional=True)),
                    (lib.canopy_entity_spec_set_name, cv.text(name, "name")),
                    (lib.canopy_entity_spec_set_type, cv.text(type, "type", optional=True)),
                    (lib.canopy_entity_spec_set_owner, cv.ident(owner, "owner")),
                    (lib.canopy_entity_spec_set_attributes, attrs),
                ]) as spec:
            cv.call(lib.canopy_entity_create, self._h(), cv.actor(actor), spec,
                    ctypes.byref(out))
        return out.value

    def get_entity(self, entity_id, *, viewer=None):
        """The entity with that id (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_entity_get, lib.canopy_entity_get_as, viewer)
        return self._entity(fn, *pre, cv.ident(entity_id, "entity_id"))

    def find_entity(self, kind, key, *, viewer=None):
        """The entity of ``kind`` with that key (as ``viewer`` may see it).
        Raises NotFound."""
        k, _ = model.parse_enum(model.EntityKind, kind, "kind")
        fn, pre = self._viewed(lib.canopy_entity_find, lib.canopy_entity_find_as, viewer)
        return self._entity(fn, *pre, k, cv.text(key, "key"))

    def find_device_by_unit_id(self, unit_id, *, viewer=None):
        """The device with that unit id (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_entity_find_by_unit_id,
                               lib.canopy_entity_find_by_unit_id_as, viewer)
        return self._entity(fn, *pre, cv.text(unit_id, "unit_id"))

    def _entity(self, fn, *args):
        with cv.handle_out(lib.canopy_entity_destroy) as out:
            cv.call(fn, self._h(), *args, ctypes.byref(out))
            return model.Entity(
                id=lib.canopy_entity_id(out),
                kind=model.EntityKind(lib.canopy_entity_kind(out)),
                key=cv.string(lib.canopy_entity_key(out)),
                unit_id=cv.string(lib.canopy_entity_unit_id(out)),
                name=cv.string(lib.canopy_entity_name(out)),
                type=cv.string(lib.canopy_entity_type(out)),
                owner=lib.canopy_entity_owner(out),
                created_us=lib.canopy_entity_created_us(out),
                updated_us=lib.canopy_entity_updated_us(out),
                attributes=cv.attributes_of(lib.canopy_entity_attributes(out)))

    def update_entity(self, actor, entity_id, *, name=None, type=None,  # noqa: A002
                      unit_id=None, attributes=None):
        """Changes the given fields (None keeps one); ``type=""`` clears the
        type, ``unit_id=""`` removes the unit id, ``attributes`` replaces
        the map. Needs <kind>.write on the owner."""
        with cv.attributes(attributes) as attrs, cv.builder(
                lib.canopy_entity_patch_create, lib.canopy_entity_patch_destroy, [
                    (lib.canopy_entity_patch_set_name, cv.text(name, "name", optional=True)),
                    (lib.canopy_entity_patch_set_type, cv.text(type, "type", optional=True)),
                    (lib.canopy_entity_patch_set_unit_id,
                     cv.text(unit_id, "unit_id", optional=True)),
                    (lib.canopy_entity_patch_set_attributes, attrs),
                ]) as patch:
            cv.call(lib.canopy_entity_update, self._h(), cv.actor(actor),
                    cv.ident(entity_id, "entity_id"), patch)

    def delete_entity(self, actor, entity_id):
        """Deletes an entity. Needs <kind>.delete on the owner."""
        cv.call(lib.canopy_entity_delete, self._h(), cv.actor(actor),
                cv.ident(entity_id, "entity_id"))

    def reassign_entities(self, actor, kind, refs, target, *, by="key", groups=()):
        """Reassigns the entities named in ``refs`` (keys, or unit ids with
        ``by="unit_id"``) to ``target``, all or nothing, and returns the
        :class:`ReassignReport`. Every entity moved joins ``groups`` (ids of
        entity groups of ``kind`` owned by ``target``; needs group.write
        there); entities already owned by ``target`` keep their groups.

        When an item fails the whole batch is refused: the error raised
        (NotFound for an unknown ref, PermissionDenied for a denied one,
        InvalidArgument for a duplicate) carries the report as ``.report``.
        A bad group (unknown, of another kind or owner, named twice) is
        refused before any item, with ``.report`` None.
        """
        k, _ = model.parse_enum(model.EntityKind, kind, "kind")
        ref_kind, _ = model.parse_enum(model.EntityRef, by, "by")
        array, n = cv.texts(refs, "refs")
        group_array, n_groups = cv.idents(groups, "groups")
        with cv.handle_out(lib.canopy_reassign_report_destroy) as out:
            try:
                cv.call(lib.canopy_entity_reassign_into, self._h(), cv.actor(actor), k, ref_kind,
                        array, n, cv.ident(target, "target"), group_array, n_groups,
                        ctypes.byref(out))
            except errors.CanopyError as e:
                e.report = _report(out) if out.value else None
                raise
            return _report(out)

    # ---- Users -------------------------------------------------------------

    def create_user(self, actor, login, name, account):
        """Creates a user in ``account``; returns its id. Needs user.invite.
        Raises AlreadyExists for a taken login."""
        out = ctypes.c_uint64()
        with cv.builder(lib.canopy_user_spec_create, lib.canopy_user_spec_destroy, [
                (lib.canopy_user_spec_set_login, cv.text(login, "login")),
                (lib.canopy_user_spec_set_name, cv.text(name, "name")),
                (lib.canopy_user_spec_set_account, cv.ident(account, "account")),
        ]) as spec:
            cv.call(lib.canopy_user_create, self._h(), cv.actor(actor), spec, ctypes.byref(out))
        return out.value

    def get_user(self, user_id, *, viewer=None):
        """The user with that id (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_user_get, lib.canopy_user_get_as, viewer)
        return self._user(fn, *pre, cv.ident(user_id, "user_id"))

    def find_user(self, login, *, viewer=None):
        """The user with that login (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_user_find, lib.canopy_user_find_as, viewer)
        return self._user(fn, *pre, cv.text(login, "login"))

    def _user(self, fn, *args):
        with cv.handle_out(lib.canopy_user_destroy) as out:
            cv.call(fn, self._h(), *args, ctypes.byref(out))
            return _user(out)

    def users_of(self, account, *, viewer=None):
        """The users created in ``account`` (that ``viewer`` sees), by id."""
        fn, pre = self._viewed(lib.canopy_user_list, lib.canopy_user_list_as, viewer)
        with cv.handle_out(lib.canopy_users_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(account, "account"), ctypes.byref(out))
            return [_user(lib.canopy_users_at(out, i)) for i in range(lib.canopy_users_count(out))]

    def update_user(self, actor, user_id, *, name=None):
        """Changes the user's name. Needs user.update on its account."""
        with cv.builder(lib.canopy_user_patch_create, lib.canopy_user_patch_destroy, [
                (lib.canopy_user_patch_set_name, cv.text(name, "name", optional=True)),
        ]) as patch:
            cv.call(lib.canopy_user_update, self._h(), cv.actor(actor),
                    cv.ident(user_id, "user_id"), patch)

    def set_user_disabled(self, actor, user_id, disabled):
        """Disables (True) or enables a user; a disabled user holds no
        permissions. Needs user.update."""
        cv.call(lib.canopy_user_set_disabled, self._h(), cv.actor(actor),
                cv.ident(user_id, "user_id"), cv.flag(disabled, "disabled"))

    def remove_user(self, actor, user_id):
        """Removes the user and its memberships. Needs user.remove."""
        cv.call(lib.canopy_user_remove, self._h(), cv.actor(actor), cv.ident(user_id, "user_id"))

    # ---- Memberships ---------------------------------------------------------

    def invite(self, actor, user, account, role, branch=None):
        """Gives ``user`` the ``role`` on ``account``; ``branch`` None
        follows the account's sub-account access. Needs user.invite and
        every permission of the role. Raises AlreadyExists for a member."""
        b = -1 if branch is None else cv.flag(branch, "branch")
        cv.call(lib.canopy_membership_invite, self._h(), cv.actor(actor), cv.ident(user, "user"),
                cv.ident(account, "account"), cv.ident(role, "role"), b)

    def change_role(self, actor, user, account, role):
        """Changes a membership's role."""
        cv.call(lib.canopy_membership_change_role, self._h(), cv.actor(actor),
                cv.ident(user, "user"), cv.ident(account, "account"), cv.ident(role, "role"))

    def set_branch_access(self, actor, user, account, branch):
        """Gives or removes a member's access to the account's
        sub-accounts, retroactively. Needs access.grant."""
        cv.call(lib.canopy_membership_set_branch, self._h(), cv.actor(actor),
                cv.ident(user, "user"), cv.ident(account, "account"), cv.flag(branch, "branch"))

    def remove_membership(self, actor, user, account):
        """Removes a membership. Needs user.remove and the role's
        permissions."""
        cv.call(lib.canopy_membership_remove, self._h(), cv.actor(actor),
                cv.ident(user, "user"), cv.ident(account, "account"))

    def memberships_of(self, user, *, viewer=None):
        """The user's memberships (that ``viewer`` sees)."""
        fn, pre = self._viewed(lib.canopy_membership_list_by_user,
                               lib.canopy_membership_list_by_user_as, viewer)
        return self._memberships(fn, *pre, cv.ident(user, "user"))

    def members_of(self, account, *, viewer=None):
        """The memberships on ``account`` (that ``viewer`` sees)."""
        fn, pre = self._viewed(lib.canopy_membership_list_by_account,
                               lib.canopy_membership_list_by_account_as, viewer)
        return self._memberships(fn, *pre, cv.ident(account, "account"))

    def _memberships(self, fn, *args):
        with cv.handle_out(lib.canopy_memberships_destroy) as out:
            cv.call(fn, self._h(), *args, ctypes.byref(out))
            return [model.Membership(user=lib.canopy_memberships_user(out, i),
                                     account=lib.canopy_memberships_account(out, i),
                                     role=lib.canopy_memberships_role(out, i),
                                     branch=bool(lib.canopy_memberships_branch(out, i)),
                                     created_us=lib.canopy_memberships_created_us(out, i))
                    for i in range(lib.canopy_memberships_count(out))]

    # ---- Roles -----------------------------------------------------------------

    def create_role(self, actor, tenant, name, permissions):
        """Creates a custom role in root tenant ``tenant`` with the given
        permission names (Canopy's or Frontegg's); returns its id."""
        array, n = cv.texts(permissions, "permissions")
        out = ctypes.c_uint64()
        cv.call(lib.canopy_role_create, self._h(), cv.actor(actor), cv.ident(tenant, "tenant"),
                cv.text(name, "name"), array, n, ctypes.byref(out))
        return out.value

    def update_role(self, actor, role_id, permissions):
        """Replaces a custom role's permissions."""
        array, n = cv.texts(permissions, "permissions")
        cv.call(lib.canopy_role_update, self._h(), cv.actor(actor), cv.ident(role_id, "role_id"),
                array, n)

    def delete_role(self, actor, role_id):
        """Deletes a custom role that no membership uses."""
        cv.call(lib.canopy_role_delete, self._h(), cv.actor(actor), cv.ident(role_id, "role_id"))

    def get_role(self, role_id, *, viewer=None):
        """The role with that id (with ``viewer``: a custom role when it
        sees the role's root tenant or holds the role). Raises NotFound."""
        fn, pre = self._viewed(lib.canopy_role_get, lib.canopy_role_get_as, viewer)
        with cv.handle_out(lib.canopy_role_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(role_id, "role_id"), ctypes.byref(out))
            return _role(out)

    def find_role(self, tenant, name):
        """A built-in role by name, or a custom role of the root tenant of
        account ``tenant`` (None: built-ins only). Raises NotFound, also
        for an unknown tenant."""
        with cv.handle_out(lib.canopy_role_destroy) as out:
            cv.call(lib.canopy_role_find, self._h(), cv.ident(tenant, "tenant", optional=True),
                    cv.text(name, "name"), ctypes.byref(out))
            return _role(out)

    def list_roles(self, tenant=None, *, viewer=None):
        """The built-in roles and the custom roles of ``tenant``'s root
        tenant (None: built-ins only), by id; with ``viewer``, for a
        ``tenant`` it sees, and the custom roles only when it sees them
        (as ``get_role``)."""
        fn, pre = self._viewed(lib.canopy_role_list, lib.canopy_role_list_as, viewer)
        with cv.handle_out(lib.canopy_roles_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(tenant, "tenant", optional=True),
                    ctypes.byref(out))
            return [_role(lib.canopy_roles_at(out, i)) for i in range(lib.canopy_roles_count(out))]

    # ---- Groups ------------------------------------------------------------------
    # docs/model.md, "Groups". Reading a group needs group.read (or group.write
    # or group.share) on its owner (a group out of the viewer's sight is
    # NotFound, as a missing one); changing one needs group.write there.
    # Members are ids: entity, user or account ids as the group's kind says.

    def create_group(self, actor, kind, name, owner):
        """Creates a group of ``kind`` (a :class:`GroupKind` or its name)
        owned by ``owner``; returns its id.

        Raises:
            AlreadyExists: a group of that kind and name in the owner.
            NotFound: the owner. InvalidArgument, PermissionDenied.
        """
        k, _ = model.parse_enum(model.GroupKind, kind, "kind")
        out = ctypes.c_uint64()
        with cv.builder(lib.canopy_group_spec_create, lib.canopy_group_spec_destroy, [
                (lib.canopy_group_spec_set_kind, k),
                (lib.canopy_group_spec_set_name, cv.text(name, "name")),
                (lib.canopy_group_spec_set_owner, cv.ident(owner, "owner")),
        ]) as spec:
            cv.call(lib.canopy_group_create, self._h(), cv.actor(actor), spec,
                    ctypes.byref(out))
        return out.value

    def rename_group(self, actor, group_id, name):
        """Renames a group. Raises AlreadyExists for a taken name."""
        cv.call(lib.canopy_group_rename, self._h(), cv.actor(actor),
                cv.ident(group_id, "group_id"), cv.text(name, "name"))

    def delete_group(self, actor, group_id):
        """Deletes a group with its member links and its grants (the members
        stay)."""
        cv.call(lib.canopy_group_delete, self._h(), cv.actor(actor),
                cv.ident(group_id, "group_id"))

    def add_group_members(self, actor, group_id, members):
        """Adds the ids of ``members`` to the group, all or nothing, and
        returns the :class:`GroupMembersReport`.

        When an item fails the whole batch is refused: the error raised
        (NotFound for an unknown id, PermissionDenied for a denied one,
        InvalidArgument for a duplicate) carries the report as ``.report``.
        """
        return self._members(lib.canopy_group_members_add, actor, group_id, members)

    def remove_group_members(self, actor, group_id, members):
        """Removes the ids of ``members`` from the group, as
        :meth:`add_group_members` adds them."""
        return self._members(lib.canopy_group_members_remove, actor, group_id, members)

    def _members(self, fn, actor, group_id, members):
        array, n = cv.idents(members, "members")
        with cv.handle_out(lib.canopy_group_members_report_destroy) as out:
            try:
                cv.call(fn, self._h(), cv.actor(actor), cv.ident(group_id, "group_id"), array,
                        n, ctypes.byref(out))
            except errors.CanopyError as e:
                e.report = _group_report(out) if out.value else None
                raise
            return _group_report(out)

    def get_group(self, group_id, *, viewer=None):
        """The group with that id (as ``viewer`` may see it). Raises
        NotFound."""
        fn, pre = self._viewed(lib.canopy_group_get, lib.canopy_group_get_as, viewer)
        with cv.handle_out(lib.canopy_group_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(group_id, "group_id"), ctypes.byref(out))
            return _group(out)

    def find_group(self, owner, kind, name, *, viewer=None):
        """The group of ``kind`` named ``name`` that ``owner`` owns (as
        ``viewer`` may see it). Raises NotFound naming it."""
        k, _ = model.parse_enum(model.GroupKind, kind, "kind")
        fn, pre = self._viewed(lib.canopy_group_find, lib.canopy_group_find_as, viewer)
        with cv.handle_out(lib.canopy_group_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(owner, "owner"), k, cv.text(name, "name"),
                    ctypes.byref(out))
            return _group(out)

    def groups_of(self, owner, *, viewer=None):
        """The groups ``owner`` owns (that ``viewer`` sees), by id."""
        fn, pre = self._viewed(lib.canopy_group_list, lib.canopy_group_list_as, viewer)
        return self._groups(fn, *pre, cv.ident(owner, "owner"))

    def groups_of_member(self, kind, member, *, viewer=None):
        """The groups (that ``viewer`` sees) holding ``member``: ``kind``
        "user" names a user, "account" an account, an entity kind an
        entity."""
        k, _ = model.parse_enum(model.GroupKind, kind, "kind")
        fn, pre = self._viewed(lib.canopy_group_list_by_member,
                               lib.canopy_group_list_by_member_as, viewer)
        return self._groups(fn, *pre, k, cv.ident(member, "member"))

    def _groups(self, fn, *args):
        with cv.handle_out(lib.canopy_groups_destroy) as out:
            cv.call(fn, self._h(), *args, ctypes.byref(out))
            return [_group(lib.canopy_groups_at(out, i))
                    for i in range(lib.canopy_groups_count(out))]

    def group_members_page(self, group_id, *, after=None, limit=1000, viewer=None):
        """A :class:`GroupMembersPage` of the group's member ids above
        ``after`` (None: from the first), at most ``limit`` (1..100000)."""
        fn, pre = self._viewed(lib.canopy_group_members_list, lib.canopy_group_members_list_as,
                               viewer)
        n = ctypes.c_size_t()
        nxt = ctypes.c_uint64()
        members = []
        with cv.handle_out(lib.canopy_free) as ids:  # freed whatever happens
            cv.call(fn, self._h(), *pre, cv.ident(group_id, "group_id"),
                    cv.ident(after, "after", optional=True), cv.count(limit, "limit"),
                    ctypes.byref(ids), ctypes.byref(n), ctypes.byref(nxt))
            if ids.value:
                array = ctypes.cast(ids, ctypes.POINTER(ctypes.c_uint64))
                members = [array[i] for i in range(n.value)]
        return model.GroupMembersPage(members=members, next=cv.optional_id(nxt.value))

    def group_members(self, group_id, *, page_size=1000, viewer=None):
        """Every member id of the group, in id order, read page by page."""
        after = None
        while True:
            page = self.group_members_page(group_id, after=after, limit=page_size,
                                           viewer=viewer)
            yield from page.members
            if page.next is None:
                return
            after = page.next

    def grant_group(self, actor, user_group, role, target=None, *, branch=False):
        """Gives ``role`` to every member of ``user_group``: generic
        (``target`` None), on an entity group or on an account group
        (``branch``: also their sub-accounts). See docs/model.md, "Groups",
        for what it needs.

        Raises:
            NotFound, InvalidArgument, PermissionDenied, AlreadyExists,
            FailedPrecondition (shared upward or sideways, an account group
            of another account than the user group's, sharing off, a custom
            role of another tenant).
        """
        with cv.builder(lib.canopy_group_grant_spec_create, lib.canopy_group_grant_spec_destroy, [
                (lib.canopy_group_grant_spec_set_user_group, cv.ident(user_group, "user_group")),
                (lib.canopy_group_grant_spec_set_role, cv.ident(role, "role")),
                (lib.canopy_group_grant_spec_set_target,
                 cv.ident(target, "target", optional=True)),
                (lib.canopy_group_grant_spec_set_branch, cv.flag(branch, "branch")),
        ]) as spec:
            cv.call(lib.canopy_group_grant, self._h(), cv.actor(actor), spec)

    def revoke_group(self, actor, user_group, role, target=None):
        """Revokes a grant (``target`` None: the generic one)."""
        cv.call(lib.canopy_group_revoke, self._h(), cv.actor(actor),
                cv.ident(user_group, "user_group"), cv.ident(role, "role"),
                cv.ident(target, "target", optional=True))

    def group_grants(self, group_id, *, viewer=None):
        """The :class:`GroupGrant` list a user group holds, or (any other
        group) those made onto it."""
        fn, pre = self._viewed(lib.canopy_group_grant_list, lib.canopy_group_grant_list_as,
                               viewer)
        with cv.handle_out(lib.canopy_group_grants_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(group_id, "group_id"), ctypes.byref(out))
            return [model.GroupGrant(
                user_group=lib.canopy_group_grants_user_group(out, i),
                role=lib.canopy_group_grants_role(out, i),
                target=cv.optional_id(lib.canopy_group_grants_target(out, i)),
                branch=bool(lib.canopy_group_grants_branch(out, i)),
                created_us=lib.canopy_group_grants_created_us(out, i))
                for i in range(lib.canopy_group_grants_count(out))]

    # ---- Visibility queries -----------------------------------------------------

    def _request(self, viewer, kind, permission, type_, name_prefix, attribute, within,
                 direct_only, min_revision=0):
        """A new ``canopy_visible_request_t`` (the caller destroys it)."""
        k, _ = model.parse_enum(model.EntityKind, kind, "kind")
        values = [
            (lib.canopy_visible_request_set_permission,
             cv.text(permission, "permission", optional=True)),
            (lib.canopy_visible_request_set_type, cv.text(type_, "type", optional=True)),
            (lib.canopy_visible_request_set_name_prefix,
             cv.text(name_prefix, "name_prefix", optional=True)),
            (lib.canopy_visible_request_set_within, cv.ident(within, "within", optional=True)),
            (lib.canopy_visible_request_set_direct_only, cv.flag(direct_only, "direct_only")),
            (lib.canopy_visible_request_set_min_revision,
             cv.count(min_revision, "min_revision")),
        ]
        if attribute is not None:
            if not isinstance(attribute, tuple) or len(attribute) != 2:
                raise TypeError("attribute must be a (name, value) tuple of str")
            attr = (cv.text(attribute[0], "attribute name"),
                    cv.text(attribute[1], "attribute value"))
        request = lib.canopy_visible_request_create(cv.actor(viewer, "viewer"), k)
        if not request:
            raise MemoryError("canopy_visible_request_create")
        try:
            for setter, value in values:
                cv.call(setter, request, value)
            if attribute is not None:
                cv.call(lib.canopy_visible_request_set_attribute, request, *attr)
        except BaseException:
            lib.canopy_visible_request_destroy(request)
            raise
        return request

    def visible_page(self, viewer, kind="device", *, permission=None, type=None,  # noqa: A002
                     name_prefix=None, attribute=None, within=None, direct_only=False,
                     limit=100, cursor=None, min_revision=0):
        """One page of the ``kind`` entities ``viewer`` may see with
        ``permission`` (default ``"<kind>.read"``), in scan order (tree
        order of the owner, then id).

        Filters: ``type`` (exact), ``name_prefix``, ``attribute`` (a
        ``(name, value)`` tuple), ``within`` (an account's subtree),
        ``direct_only``. Resume with the page's ``next_cursor``.
        ``min_revision`` is a consistency token (e.g. the
        :attr:`last_committed_revision` of a write to read back); the page
        says in ``revision`` which revision it read.

        Raises:
            InvalidArgument: a bad permission, filter, limit (1..10000), or
                a forged cursor or one from another request.
            NotFound: the viewer or ``within``.
            FailedPrecondition: the database has not reached ``min_revision``.
        """
        request = self._request(viewer, kind, permission, type, name_prefix, attribute, within,
                                direct_only, min_revision)
        try:
            cv.call(lib.canopy_visible_request_set_limit, request, cv.count(limit, "limit"))
            cv.call(lib.canopy_visible_request_set_cursor, request, cv.text(cursor, "cursor",
                                                                   optional=True))
            with cv.handle_out(lib.canopy_visible_page_destroy) as out:
                cv.call(lib.canopy_visible_list, self._h(), request, ctypes.byref(out))
                items = [model.VisibleItem(id=lib.canopy_visible_page_id(out, i),
                                           key=cv.string(lib.canopy_visible_page_key(out, i)),
                                           name=cv.string(lib.canopy_visible_page_name(out, i)),
                                           type=cv.string(lib.canopy_visible_page_type(out, i)),
                                           owner=lib.canopy_visible_page_owner(out, i))
                         for i in range(lib.canopy_visible_page_count(out))]
                return model.VisiblePage(
                    items, cv.string(lib.canopy_visible_page_next_cursor(out)),
                    lib.canopy_visible_page_revision(out))
        finally:
            lib.canopy_visible_request_destroy(request)

    def visible(self, viewer, kind="device", *, page_size=100, **filters):
        """Every entity ``viewer`` may see, as an iterator of
        :class:`VisibleItem` that fetches pages of ``page_size`` through
        cursors as it goes. Takes the filters of :meth:`visible_page`.

        Each page after the first reads the snapshot of the first while its
        cursor is live (see ``query.h``); for one snapshot over millions of
        entities prefer :meth:`stream`. Arguments are checked on the first
        ``next()``.
        """
        cursor = None
        while True:
            page = self.visible_page(viewer, kind, limit=page_size, cursor=cursor, **filters)
            yield from page.items
            if not page.next_cursor:  # "" on the last page
                return
            cursor = page.next_cursor

    def stream(self, viewer, kind="device", *, permission=None, type=None,  # noqa: A002
               name_prefix=None, attribute=None, within=None, direct_only=False,
               min_revision=0):
        """A :class:`VisibleStream` over the whole selection on one
        snapshot (libcanopy's streaming iterator). Takes the filters and
        ``min_revision`` of :meth:`visible_page`; errors in them are raised
        here."""
        request = self._request(viewer, kind, permission, type, name_prefix, attribute, within,
                                direct_only, min_revision)
        try:
            keep = self._h()  # held until the stream is registered for close()
            try:
                # Registered first; the call fills its handle (see VisibleStream).
                stream = VisibleStream(self)
                self._adopt(self._streams, stream)
                try:
                    cv.call(lib.canopy_visible_iterator_create, self._h(), request,
                            ctypes.byref(stream._slot))
                except BaseException:
                    stream.close()
                    self._forget(self._streams, stream)
                    raise
                return stream
            finally:
                keep.release()
        finally:
            lib.canopy_visible_request_destroy(request)

    def count(self, viewer, kind="device", *, permission=None, type=None,  # noqa: A002
              name_prefix=None, attribute=None, within=None, direct_only=False, min_revision=0):
        """The exact number of entities :meth:`visible` would yield; with no
        filter beyond kind and permission it does not scan."""
        request = self._request(viewer, kind, permission, type, name_prefix, attribute, within,
                                direct_only, min_revision)
        try:
            out = ctypes.c_uint64()
            cv.call(lib.canopy_visible_count, self._h(), request, ctypes.byref(out))
            return out.value
        finally:
            lib.canopy_visible_request_destroy(request)

    # ---- Access ------------------------------------------------------------------

    def check(self, user, permission, entity_key):
        """May ``user`` exercise ``permission`` (e.g. ``"device.assign"``;
        the entity kind follows from it) on the entity ``entity_key``?

        Raises NotFound (user, entity) or InvalidArgument (permission)."""
        out = ctypes.c_int()
        cv.call(lib.canopy_access_check, self._h(), cv.ident(user, "user"),
                cv.text(permission, "permission"), cv.text(entity_key, "entity_key"),
                ctypes.byref(out))
        return bool(out.value)

    def explain(self, user, permission, entity_key, *, asker=None):
        """The :class:`Explanation` of :meth:`check`: the membership, role
        and account path that allow it, or why not. With ``asker`` (a user
        id or SYSTEM_ACTOR): as that asker learns it. Another user gets it
        only for a user it sees (NotFound otherwise), and the reason, path
        and role name name only what the asker sees; SYSTEM_ACTOR, an
        operator, is told when the target exists out of the user's sight
        (not allowed, the reason saying so) instead of NotFound."""
        fn, pre = self._viewed(lib.canopy_access_explain, lib.canopy_access_explain_as, asker,
                               "asker")
        with cv.handle_out(lib.canopy_explanation_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(user, "user"),
                    cv.text(permission, "permission"), cv.text(entity_key, "entity_key"),
                    ctypes.byref(out))
            return model.Explanation(
                allowed=bool(lib.canopy_explanation_allowed(out)),
                reason=cv.string(lib.canopy_explanation_reason(out)),
                entity=lib.canopy_explanation_entity(out),
                owner=lib.canopy_explanation_owner(out),
                via_account=cv.optional_id(lib.canopy_explanation_via_account(out)),
                via_role=cv.optional_id(lib.canopy_explanation_via_role(out)),
                via_role_name=cv.string(lib.canopy_explanation_via_role_name(out)),
                via_branch=bool(lib.canopy_explanation_via_branch(out)),
                via_user_group=cv.optional_id(lib.canopy_explanation_via_user_group(out)),
                via_group=cv.optional_id(lib.canopy_explanation_via_group(out)),
                path=[cv.string(lib.canopy_explanation_path(out, i))
                      for i in range(lib.canopy_explanation_path_count(out))])

    def who_can_page(self, permission, entity_key, *, limit=100, cursor=None, min_revision=0,
                     viewer=None):
        """One page of the users who may exercise ``permission`` on the
        entity, by user id. ``min_revision``: as for :meth:`visible_page`.
        With ``viewer``: only for an entity it sees, only users whose
        granting membership it sees."""
        fn, pre = self._viewed(lib.canopy_access_who_can_v2, lib.canopy_access_who_can_as, viewer)
        with cv.handle_out(lib.canopy_who_can_page_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.text(permission, "permission"),
                    cv.text(entity_key, "entity_key"), cv.count(limit, "limit"),
                    cv.text(cursor, "cursor", optional=True),
                    cv.count(min_revision, "min_revision"), ctypes.byref(out))
            items = [model.WhoCanItem(user=lib.canopy_who_can_page_user(out, i),
                                      login=cv.string(lib.canopy_who_can_page_login(out, i)),
                                      via_account=lib.canopy_who_can_page_via_account(out, i),
                                      role=lib.canopy_who_can_page_role(out, i),
                                      branch=bool(lib.canopy_who_can_page_branch(out, i)),
                                      via_user_group=cv.optional_id(
                                          lib.canopy_who_can_page_via_user_group(out, i)),
                                      via_group=cv.optional_id(
                                          lib.canopy_who_can_page_via_group(out, i)))
                     for i in range(lib.canopy_who_can_page_count(out))]
            return model.WhoCanPage(items, cv.string(lib.canopy_who_can_page_next_cursor(out)),
                                    lib.canopy_who_can_page_revision(out))

    def who_can(self, permission, entity_key, *, page_size=100, min_revision=0, viewer=None):
        """Every user who may exercise ``permission`` on the entity, as an
        iterator of :class:`WhoCanItem` that pages as it goes."""
        cursor = None
        while True:
            page = self.who_can_page(permission, entity_key, limit=page_size, cursor=cursor,
                                     min_revision=min_revision, viewer=viewer)
            yield from page.items
            if not page.next_cursor:  # "" on the last page
                return
            cursor = page.next_cursor

    # ---- Views -------------------------------------------------------------------

    def accounts_table_page(self, viewer, *, root=None, sort="tree", descending=False,
                            limit=100, cursor=None, min_revision=0):
        """One page of the "All accounts" table: the accounts ``viewer``
        may read (within ``root``'s subtree), sorted by ``sort`` (a
        :class:`TableSort` or its name). ``min_revision``: as for
        :meth:`visible_page`."""
        s, _ = model.parse_enum(model.TableSort, sort, "sort")
        with cv.handle_out(lib.canopy_table_page_destroy) as out:
            cv.call(lib.canopy_account_table_v2, self._h(), cv.actor(viewer, "viewer"),
                    cv.ident(root, "root", optional=True), s, cv.flag(descending, "descending"),
                    cv.count(limit, "limit"), cv.text(cursor, "cursor", optional=True),
                    cv.count(min_revision, "min_revision"), ctypes.byref(out))
            rows = [model.AccountRow(
                id=lib.canopy_table_page_id(out, r),
                parent=cv.optional_id(lib.canopy_table_page_parent(out, r)),
                key=cv.string(lib.canopy_table_page_key(out, r)),
                name=cv.string(lib.canopy_table_page_name(out, r)),
                depth=lib.canopy_table_page_depth(out, r),
                path=[cv.string(lib.canopy_table_page_path(out, r, i))
                      for i in range(lib.canopy_table_page_path_count(out, r))],
                users=lib.canopy_table_page_users(out, r),
                sub_accounts=lib.canopy_table_page_sub_accounts(out, r),
                devices_direct=lib.canopy_table_page_devices_direct(out, r),
                devices_subtree=lib.canopy_table_page_devices_subtree(out, r),
                groups=lib.canopy_table_page_groups(out, r),
                created_us=lib.canopy_table_page_created_us(out, r))
                for r in range(lib.canopy_table_page_count(out))]
            return model.TablePage(rows, lib.canopy_table_page_total(out),
                                   cv.string(lib.canopy_table_page_next_cursor(out)),
                                   lib.canopy_table_page_revision(out))

    def accounts_table(self, viewer, *, root=None, sort="tree", descending=False, page_size=100,
                       min_revision=0):
        """Every row of the "All accounts" table, as an iterator of
        :class:`AccountRow` that pages as it goes."""
        cursor = None
        while True:
            page = self.accounts_table_page(viewer, root=root, sort=sort, descending=descending,
                                            limit=page_size, cursor=cursor,
                                            min_revision=min_revision)
            yield from page.rows
            if not page.next_cursor:  # "" on the last page
                return
            cursor = page.next_cursor

    def summary(self, account_id, *, viewer=None):
        """The :class:`Summary` of an account; with ``viewer``, its path
        names only ancestors the viewer sees and its totals count only what
        it sees. Raises NotFound."""
        fn, pre = self._viewed(lib.canopy_account_summarize, lib.canopy_account_summarize_as,
                               viewer)
        with cv.handle_out(lib.canopy_summary_destroy) as out:
            cv.call(fn, self._h(), *pre, cv.ident(account_id, "account_id"), ctypes.byref(out))
            return model.Summary(
                account=_account(lib.canopy_summary_account(out)),
                path=[cv.string(lib.canopy_summary_path(out, i))
                      for i in range(lib.canopy_summary_path_count(out))],
                path_names=[cv.string(lib.canopy_summary_path_name(out, i))
                            for i in range(lib.canopy_summary_path_count(out))],
                users=lib.canopy_summary_users(out),
                sub_accounts=lib.canopy_summary_sub_accounts(out),
                devices_direct=lib.canopy_summary_devices_direct(out),
                devices_subtree=lib.canopy_summary_devices_subtree(out))

    def graph_json(self, viewer, root=None, max_levels=0):
        """The graph view of ``root``'s subtree (None: every root tenant)
        that ``viewer`` may read, as JSON text."""
        return self._graph(lib.canopy_account_graph_json, viewer, root, max_levels)

    def graph_dot(self, viewer, root=None, max_levels=0):
        """The same graph as Graphviz DOT text (``dot -Tsvg``)."""
        return self._graph(lib.canopy_account_graph_dot, viewer, root, max_levels)

    def _graph(self, fn, viewer, root, max_levels):
        length = ctypes.c_size_t()
        with cv.handle_out(lib.canopy_free) as text:  # freed whatever happens
            cv.call(fn, self._h(), cv.actor(viewer, "viewer"),
                    cv.ident(root, "root", optional=True),
                    cv.count(max_levels, "max_levels", _MAX_U32), ctypes.byref(text),
                    ctypes.byref(length))
            return ctypes.string_at(text.value, length.value).decode("utf-8", "replace")

    # ---- Interchange and maintenance ------------------------------------------------

    def import_file(self, actor, path, progress=None):
        """Loads a JSON Lines interchange file, all or nothing; system actor
        only. ``progress(done_bytes, total_bytes)`` may return False to
        cancel (Aborted). Returns the :class:`ImportReport`.

        Raises InvalidArgument naming the bad line, NotFound for a missing
        file."""
        p = _Progress(progress)
        with cv.handle_out(lib.canopy_import_report_destroy) as out:
            p.run(lib.canopy_db_import, self._h(), cv.actor(actor), cv.path(path, "path"),
                  p.c_fn, None, ctypes.byref(out))
            return _import_report(out)

    def export_file(self, path, progress=None):
        """Writes the whole database to ``path`` in the interchange format
        (export then import into an empty database round-trips). Returns
        the counts written."""
        p = _Progress(progress)
        with cv.handle_out(lib.canopy_import_report_destroy) as out:
            p.run(lib.canopy_db_export, self._h(), cv.path(path, "path"), p.c_fn, None,
                  ctypes.byref(out))
            return _import_report(out)

    def check_integrity(self, progress=None):
        """Verifies every invariant of the stored database. Returns
        quietly when all hold; raises Corruption with the findings in
        ``.problems`` otherwise."""
        p = _Progress(progress)
        with cv.handle_out(lib.canopy_strings_destroy) as out:
            try:
                p.run(lib.canopy_db_check_integrity, self._h(), p.c_fn, None, ctypes.byref(out))
            except errors.Corruption as e:
                e.problems = [cv.string(lib.canopy_strings_at(out, i))
                              for i in range(lib.canopy_strings_count(out))]
                raise


    # ---- Change log ------------------------------------------------------------------

    @property
    def revision(self):
        """The revision of the last committed mutation (0: none yet). Every
        mutation that changes something commits the next revision."""
        use = self._h()
        try:
            return lib.canopy_db_revision(use)
        finally:
            use.release()

    @property
    def last_committed_revision(self):
        """The revision committed by this thread's last successful mutation
        on this database (0: none): the consistency token to pass as
        ``min_revision`` to a read that must see that write."""
        use = self._h()
        try:
            return lib.canopy_db_last_committed_revision(use)
        finally:
            use.release()

    @property
    def log_id(self):
        """The lineage id: the id of the database whose log this one holds
        (its own, or the one it follows through :meth:`apply_changes`)."""
        with cv.handle_out(lib.canopy_free) as out:  # freed whatever happens
            cv.call(lib.canopy_db_log_id, self._h(), ctypes.byref(out))
            return ctypes.string_at(out.value).decode("utf-8", "replace")

    def checkpoint(self, folder):
        """Writes a consistent copy of the database into the new folder
        ``folder`` and returns its revision. On a replica with a checkpoint
        folder, a copy written directly inside it is registered in etcd (new
        replicas start from it).

        Raises AlreadyExists (the folder exists), IoError, Unavailable."""
        rev = ctypes.c_uint64()
        cv.call(lib.canopy_db_checkpoint, self._h(), cv.path(folder, "folder"), ctypes.byref(rev))
        return rev.value

    def backup(self, folder, progress=None):
        """Writes a verified backup of the database into the new folder
        ``folder`` and returns its revision: a checkpoint written under a
        scratch name beside it, opened and integrity-checked, then renamed
        to ``folder``. ``progress(done, total)`` hears the check (entities);
        returning False cancels it, and nothing is left behind.

        Raises AlreadyExists (the folder exists), InvalidArgument (inside
        the database folder), Corruption (the copy fails its check),
        IoError, Aborted (cancelled)."""
        p = _Progress(progress)
        rev = ctypes.c_uint64()
        p.run(lib.canopy_db_backup, self._h(), cv.path(folder, "folder"), p.c_fn, None,
              ctypes.byref(rev))
        return rev.value

    def replica_status(self):
        """Where this replica stands, as a dict: ``replicated``,
        ``replica_id``, ``applied``, ``head``, ``lag``, ``last_contact_us``,
        ``apply_delay_us``, ``checkpoint``, ``log_first``, ``error`` and
        ``members`` (each etcd member's ``endpoint``, ``reachable``,
        ``has_leader``, ``version``, ``error``). ``head``, ``lag``,
        ``checkpoint`` and ``log_first`` are None while etcd never answered
        (``last_contact_us`` 0)."""
        with cv.handle_out(lib.canopy_free) as out:  # freed whatever happens
            cv.call(lib.canopy_db_replica_status, self._h(), ctypes.byref(out))
            return json.loads(ctypes.string_at(out.value).decode("utf-8"))

    def sync_with_log(self, timeout_ms=10000):
        """On a replica: waits until everything etcd held when the call began
        is applied here and returns that revision (reads after it see every
        write acknowledged before, on any replica).

        Raises Unavailable (etcd does not answer) or Aborted (timeout)."""
        rev = ctypes.c_uint64()
        cv.call(lib.canopy_db_sync_with_log, self._h(),
                cv.count(timeout_ms, "timeout_ms", _MAX_U32), ctypes.byref(rev))
        return rev.value

    def catch_up(self):
        """On a follower (``open(..., follower=True)``): reads what the
        writer wrote since, brings this view to it and returns the new
        revision. It waits for the reads under way and holds new ones off
        meanwhile; paging cursors' next pages read the new state.

        Raises Aborted (reads still hold the state after 5 s: an open
        snapshot or visible stream of the follower holds it until closed,
        and is waited for with other reads going on; nothing changed),
        FailedPrecondition (not a follower, closed, or called from a
        progress callback of this follower's own export or integrity
        check) or Unavailable (the writer kept replacing the
        files being read: try again; until a catch-up succeeds, reads raise
        Unavailable too)."""
        rev = ctypes.c_uint64()
        cv.call(lib.canopy_db_catch_up, self._h(), ctypes.byref(rev))
        return rev.value

    def changes(self, since=1, limit=1000, *, account=None, types=None, viewer=None,
                values=True, min_revision=0):
        """One :class:`ChangesPage` of the change log from revision
        ``since``: at most ``limit`` (1..100000) entries, in revision order.

        ``viewer`` None (or :data:`canopy.SYSTEM_ACTOR`) sees every change;
        a user id gets the audit view: only the changes inside accounts
        where it holds audit.read (hidden sides, arguments and actors read
        as None). ``account`` (an id) keeps the changes inside its subtree,
        ``types`` (a list of record type names: "account", "entity",
        "user", "membership", "role", "meta", "group", "group_member",
        "group_members", "group_grant") only those types. ``values``
        False leaves out the records (``before`` and ``after`` are None;
        type, action and id stay), like etcd's keys_only. Read on
        from the page's ``next`` while it is not ``at_head``, or use
        :meth:`watch`.

        Raises:
            InvalidArgument: ``since`` 0, a bad limit, an unknown type.
            NotFound: the viewer or the account (also an account deleted
                before ``since``: its changes end at its deletion).
            PermissionDenied: a user viewer filtering by an account where it
                lacks audit.read.
            Compacted: ``since`` was trimmed by retention (the message
                names the oldest revision kept).
            FailedPrecondition: the database has not reached ``min_revision``,
                or ``since`` is past the revision + 1 (a cursor of another
                database, or of this one before it was restored).
        """
        setters = [
            (lib.canopy_changes_request_set_since, cv.count(since, "since")),
            (lib.canopy_changes_request_set_limit, cv.count(limit, "limit")),
            (lib.canopy_changes_request_set_account, cv.ident(account, "account", optional=True)),
            (lib.canopy_changes_request_set_values, cv.flag(values, "values")),
            (lib.canopy_changes_request_set_min_revision, cv.count(min_revision, "min_revision")),
        ]
        if types is not None:
            if isinstance(types, (str, bytes)) or not hasattr(types, "__iter__"):
                raise TypeError("types must be a list of str, not %s" % type(types).__name__)
            setters += [(lib.canopy_changes_request_add_type, cv.text(t, "types[%d]" % i))
                        for i, t in enumerate(types)]
        viewer_id = cv.actor(viewer if viewer is not None else model.SYSTEM_ACTOR, "viewer")
        request = lib.canopy_changes_request_create(viewer_id)
        if not request:
            raise MemoryError("canopy_changes_request_create")
        try:
            for setter, value in setters:
                cv.call(setter, request, value)
            with cv.handle_out(lib.canopy_changes_destroy) as out:
                cv.call(lib.canopy_changes_read_request, self._h(), request, ctypes.byref(out))
                return model.ChangesPage(
                    entries=[_change_entry(out, i) for i in range(lib.canopy_changes_count(out))],
                    next=lib.canopy_changes_next(out),
                    revision=lib.canopy_changes_revision(out),
                    ended=bool(lib.canopy_changes_ended(out)))
        finally:
            lib.canopy_changes_request_destroy(request)

    def wait_for_changes(self, after, timeout=1.0):
        """Blocks until the revision passes ``after`` or ``timeout``
        seconds elapse (``float("inf")``: no limit), or the database closes
        (here or on another thread); returns the revision then.
        """
        timeout = cv.seconds(timeout, "timeout")
        after = cv.count(after, "after")
        deadline = time.monotonic() + timeout
        out = ctypes.c_uint64()
        # In slices of at most 200 ms, so that a close() on another thread,
        # which waits for the calls in flight, is not held up.
        waited = False
        while True:
            left = deadline - time.monotonic()
            ms = 0 if left <= 0 else 200 if left >= 0.2 else int(left * 1000) + 1
            try:
                use = self._h()
            except errors.FailedPrecondition:
                if waited:
                    return out.value  # closed meanwhile: the revision then
                raise
            cv.call(lib.canopy_changes_wait, use, after, ms, ctypes.byref(out))
            waited = True
            if out.value > after or left <= 0 or self._closing:
                return out.value

    def watch(self, since=1, *, follow=False, timeout=None, page_size=1000, account=None,
              types=None, viewer=None, values=True):
        """Every :class:`ChangeEntry` from revision ``since`` on, as an
        iterator that reads page after page (filters as for
        :meth:`changes`).

        Without ``follow`` it ends at the head of the log. With ``follow``
        it then waits for new revisions and yields them as they commit; it
        ends when nothing new arrives for ``timeout`` seconds (None: it
        never ends; break out of the loop to stop). Arguments are checked on
        the first ``next()``. On a replica whose follower cannot go on (its
        next revision trimmed from etcd, the log replaced), the wait raises
        the follower's error. Filtered by an ``account`` that is deleted
        meanwhile, it yields the deletion, then raises NotFound ("... was
        deleted at revision R").
        """
        timeout = cv.seconds(timeout, "timeout", optional=True)
        while True:
            page = self.changes(since, page_size, account=account, types=types, viewer=viewer,
                                values=values)
            yield from page.entries
            since = page.next
            if page.ended:
                continue  # the account's log ends there: the next read says so, at once
            if not page.at_head:
                continue
            if not follow:
                return
            # Wait in short steps, so that Ctrl-C gets through between them.
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                step = 0.25
                if deadline is not None:
                    step = min(step, max(0.0, deadline - time.monotonic()))
                if self.wait_for_changes(page.revision, step) > page.revision:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return

    def log_entries(self, since=1, limit=1000):
        """Replication: the stored log entries from revision ``since`` (at
        most ``limit``, 1..100000), each an opaque ``bytes`` for
        :meth:`apply_changes` on another database. Empty when ``since`` is
        the revision + 1.

        Raises InvalidArgument (``since`` 0, limit), Compacted, or
        FailedPrecondition (``since`` past the revision + 1)."""
        with cv.handle_out(lib.canopy_log_entries_destroy) as out:
            cv.call(lib.canopy_log_entries_read, self._h(), cv.count(since, "since"),
                    cv.count(limit, "limit"), ctypes.byref(out))
            return [ctypes.string_at(lib.canopy_log_entries_data(out, i),
                                     lib.canopy_log_entries_size(out, i))
                    for i in range(lib.canopy_log_entries_count(out))]

    def apply_changes(self, entries):
        """Applies entries read with :meth:`log_entries` from another
        database, in revision order (each must be this database's revision
        + 1; one already applied is skipped when identical). An empty
        database adopts the source's lineage and follows it from then on.
        Returns the :class:`ApplyReport`.

        Each entry is applied atomically; on an error the entries before it
        stay applied and the exception carries the report in ``.report``.

        Raises:
            FailedPrecondition: a gap, a repeated revision with other
                contents, another lineage.
            Corruption: a damaged entry.
        """
        if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
            raise TypeError("entries must be a list of bytes, not %s" % type(entries).__name__)
        items = []
        for i, e in enumerate(entries):
            if not isinstance(e, (bytes, bytearray, memoryview)):
                raise TypeError("entries[%d] must be bytes, not %s" % (i, type(e).__name__))
            items.append(bytes(e))
        # Pointers into the bytes objects (kept alive by `items`), with lengths:
        # the entries may hold NUL bytes.
        pointers = (ctypes.c_char_p * max(1, len(items)))(*items)
        data = ctypes.cast(pointers, ctypes.POINTER(ctypes.c_void_p))
        sizes = (ctypes.c_size_t * max(1, len(items)))(*[len(e) for e in items])
        with cv.handle_out(lib.canopy_apply_report_destroy) as out:
            try:
                cv.call(lib.canopy_changes_apply, self._h(), data, sizes, len(items),
                        ctypes.byref(out))
            except errors.CanopyError as e:
                if out.value:
                    e.report = _apply_report(out)
                raise
            return _apply_report(out)

    # ---- Statistics ------------------------------------------------------------------
    # Last in the class: the method named ``property`` shadows the builtin
    # decorator for anything defined below it here.

    def property(self, name):
        """One statistic as text (``Db::GetProperty``): ``canopy.*`` counts
        and revisions, ``rocksdb.NAME`` (summed over the key spaces when a
        number), ``rocksdb.NAME@SPACE``, ``rocksdb.statistics``. Raises
        NotFound, naming it, for an unknown name."""
        with cv.handle_out(lib.canopy_free) as out:  # freed whatever happens
            cv.call(lib.canopy_get_property, self._h(), cv.text(name, "name"), ctypes.byref(out))
            return ctypes.string_at(out.value).decode("utf-8", "replace")

    @staticmethod
    def property_names():
        """The names of the statistics worth watching, as a list."""
        with cv.handle_out(lib.canopy_strings_destroy) as out:
            cv.call(lib.canopy_property_names, ctypes.byref(out))
            return [cv.string(lib.canopy_strings_at(out, i))
                    for i in range(lib.canopy_strings_count(out))]

    def stats(self):
        """Every statistic of :meth:`property_names` as a dict, whole
        numbers as ints (what ``canopy stats --json`` prints)."""
        out = {}
        for name in self.property_names():
            value = self.property(name)
            out[name] = int(value) if value.isascii() and value.isdigit() else value
        return out

# ---- Handles to values ----------------------------------------------------------


def _account(h):
    return model.Account(
        id=lib.canopy_account_id(h),
        key=cv.string(lib.canopy_account_key(h)),
        name=cv.string(lib.canopy_account_name(h)),
        parent=cv.optional_id(lib.canopy_account_parent(h)),
        depth=lib.canopy_account_depth(h),
        created_us=lib.canopy_account_created_us(h),
        updated_us=lib.canopy_account_updated_us(h),
        attributes=cv.attributes_of(lib.canopy_account_attributes(h)),
        sub_account_management=bool(lib.canopy_account_sub_account_management(h)),
        sub_account_access=model.SubAccountAccess(lib.canopy_account_sub_account_access(h)),
        group_sharing=bool(lib.canopy_account_group_sharing(h)))


def _user(h):
    return model.User(
        id=lib.canopy_user_id(h),
        login=cv.string(lib.canopy_user_login(h)),
        name=cv.string(lib.canopy_user_name(h)),
        account=lib.canopy_user_account(h),
        disabled=bool(lib.canopy_user_disabled(h)),
        created_us=lib.canopy_user_created_us(h),
        updated_us=lib.canopy_user_updated_us(h))


def _role(h):
    return model.Role(
        id=lib.canopy_role_id(h),
        tenant=cv.optional_id(lib.canopy_role_tenant(h)),
        name=cv.string(lib.canopy_role_name(h)),
        permissions=[cv.string(lib.canopy_role_permission(h, i))
                     for i in range(lib.canopy_role_permission_count(h))],
        builtin=bool(lib.canopy_role_builtin(h)))


def _report(h):
    items = [model.ReassignItem(
        ref=cv.string(lib.canopy_reassign_report_ref(h, i)),
        outcome=model.Outcome(lib.canopy_reassign_report_outcome(h, i)),
        entity=cv.optional_id(lib.canopy_reassign_report_entity(h, i)),
        previous_owner=cv.optional_id(lib.canopy_reassign_report_previous_owner(h, i)),
        message=cv.string(lib.canopy_reassign_report_message(h, i)))
        for i in range(lib.canopy_reassign_report_count(h))]
    return model.ReassignReport(
        items=items,
        moved=lib.canopy_reassign_report_total(h, model.Outcome.MOVED),
        unchanged=lib.canopy_reassign_report_total(h, model.Outcome.UNCHANGED),
        unknown=lib.canopy_reassign_report_total(h, model.Outcome.UNKNOWN),
        denied=lib.canopy_reassign_report_total(h, model.Outcome.DENIED),
        duplicate=lib.canopy_reassign_report_total(h, model.Outcome.DUPLICATE))


def _group(h):
    return model.Group(
        id=lib.canopy_group_id(h),
        kind=model.GroupKind(lib.canopy_group_kind(h)),
        name=cv.string(lib.canopy_group_name(h)),
        owner=lib.canopy_group_owner(h),
        size=lib.canopy_group_size(h),
        created_us=lib.canopy_group_created_us(h),
        updated_us=lib.canopy_group_updated_us(h),
        overlap=lib.canopy_group_overlap(h))


def _group_report(h):
    items = [model.GroupMemberItem(
        member=lib.canopy_group_members_report_member(h, i),
        outcome=model.MemberOutcome(lib.canopy_group_members_report_outcome(h, i)),
        message=cv.string(lib.canopy_group_members_report_message(h, i)))
        for i in range(lib.canopy_group_members_report_count(h))]
    return model.GroupMembersReport(
        items=items,
        done=lib.canopy_group_members_report_total(h, model.MemberOutcome.DONE),
        unchanged=lib.canopy_group_members_report_total(h, model.MemberOutcome.UNCHANGED),
        unknown=lib.canopy_group_members_report_total(h, model.MemberOutcome.UNKNOWN),
        denied=lib.canopy_group_members_report_total(h, model.MemberOutcome.DENIED),
        duplicate=lib.canopy_group_members_report_total(h, model.MemberOutcome.DUPLICATE))


def _import_report(h):
    return model.ImportReport(
        lines=lib.canopy_import_report_lines(h),
        accounts=lib.canopy_import_report_accounts(h),
        roles=lib.canopy_import_report_roles(h),
        users=lib.canopy_import_report_users(h),
        memberships=lib.canopy_import_report_memberships(h),
        entities=lib.canopy_import_report_entities(h),
        groups=lib.canopy_import_report_groups(h),
        group_members=lib.canopy_import_report_group_members(h),
        group_grants=lib.canopy_import_report_group_grants(h))


def _json_or_none(raw):
    """A JSON object returned as text ("" meaning none) as a dict, or None."""
    text = cv.string(raw)
    return json.loads(text) if text else None


def _change_entry(h, i):
    return model.ChangeEntry(
        revision=lib.canopy_changes_entry_revision(h, i),
        time_us=lib.canopy_changes_entry_time_us(h, i),
        actor=cv.string(lib.canopy_changes_entry_actor(h, i)) or None,
        operation=cv.string(lib.canopy_changes_entry_operation(h, i)),
        arguments=_json_or_none(lib.canopy_changes_entry_arguments(h, i)),
        changes=[model.RecordChange(
            type=cv.string(lib.canopy_changes_record_type(h, i, j)),
            action=cv.string(lib.canopy_changes_record_action(h, i, j)),
            id=cv.string(lib.canopy_changes_record_id(h, i, j)),
            before=_json_or_none(lib.canopy_changes_record_before(h, i, j)),
            after=_json_or_none(lib.canopy_changes_record_after(h, i, j)))
            for j in range(lib.canopy_changes_record_count(h, i))])


def _apply_report(h):
    return model.ApplyReport(
        applied=lib.canopy_apply_report_applied(h),
        skipped=lib.canopy_apply_report_skipped(h),
        revision=lib.canopy_apply_report_revision(h))
