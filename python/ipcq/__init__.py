"""ipcq from Python: message queues between processes in POSIX shared memory.

A thin layer over libipcq (include/ipcq.h says what every call does) through
cffi, in one of two modes; backend() says which:

  "api"  the compiled module ipcq._ipcq_cffi, cffi's API mode, built by
         ipcq/_build.py (make python-build, make install-python, pip
         install): about 0.2 us less per call.  It is looked for at
         $IPCQ_CFFI_MODULE (a path; "none" selects ABI mode), else beside
         this file (an installed package), else in the tree's
         build/release/python/ipcq when this package sits in the source tree.
  "abi"  where that module is not there or does not load (no compiler or
         no Python headers where the package was installed): the C library
         loaded with ffi.dlopen(), nothing compiled.

Which libipcq.so is loaded, in both modes: $IPCQ_LIBRARY when set, else the
tree's release build (build/release/libipcq.so.0) when this package sits in
the source tree, else libipcq.so.0 from the dynamic linker's search path
(an installed ipcq).  The compiled module names libipcq.so.0 without a path
and gets the library this package loaded before importing it.

    import ipcq
    with ipcq.Queue.create("orders", capacity=1024, max_msg_size=256) as q:
        q.attach(producer=True, consumer=True)
        q.send(b"BUY 100 ACME")
        print(q.recv(timeout=1.0), q.last_info.seq)
    ipcq.unlink("orders")

Timeouts are seconds: None waits for ever, 0 never waits, anything else
raises Timeout when it runs out.  Every C call releases the GIL while it
runs; the blocking calls wait in slices of at most 50 ms and return to the
interpreter between them, so Ctrl-C (KeyboardInterrupt) and other signal
handlers run within a slice.  Errors raise Error (an OSError) with the
errno, the library's sentence (ipcq_strerror) and its detail
(ipcq_errdetail) where the failing call sets one.
"""

import errno as _errno
import functools as _functools
import os as _os
import time as _time
import weakref as _weakref
from pathlib import Path as _Path

from ._cdef import CDEF as _CDEF

import cffi as _cffi

__all__ = [
    "Error", "Timeout", "WouldBlock", "Queue", "MsgInfo", "Message", "Peeked",
    "Reservation", "unlink", "sweep", "list_queues", "version", "library_path",
    "backend",
    "WAIT_DEFAULT", "WAIT_ADAPTIVE", "WAIT_BUSY_POLL", "WAIT_YIELD",
    "FULL_BLOCK", "FULL_FAIL", "FULL_DROP_OLDEST", "NACK_REQUEUE", "NACK_POISON",
    "SEND_OK", "SEND_PRESSURE", "SEND_DUPLICATE", "MSG_REDELIVERED", "MSG_REPLAYED",
    "REASON_NACKED", "REASON_MAX_DELIVERIES", "REASON_CONSUMER_CRASHED",
    "REASON_EXPIRED", "REASON_REFUSED", "REASON_TOO_LARGE",
    "CF_EXPIRY", "CF_EXPIRED_TO_SIDE", "CF_KEYED", "MSG_KEYED", "PRIORITIES_MAX",
    "AUTO", "POISON_ALL", "NUMA_ANY", "NUMA_LOCAL",
    "PART_SOLE_STORE_ENQ", "PART_SOLE_STORE_DEQ",
]

_TREE = _Path(__file__).resolve().parents[2]


def library_path():
    """The libipcq.so this package loads: $IPCQ_LIBRARY, the source tree's
    build/release/libipcq.so.0, or "libipcq.so.0" (the linker's search)."""
    env = _os.environ.get("IPCQ_LIBRARY")
    if env:
        return env
    tree = _TREE / "build" / "release" / "libipcq.so.0"
    if tree.is_file():
        return str(tree)
    return "libipcq.so.0"


def _compiled():
    """The module ipcq._ipcq_cffi, or None where it is not there or does
    not load (ABI mode then).  A path in $IPCQ_CFFI_MODULE that does not
    load raises ImportError; "none" there selects ABI mode."""
    env = _os.environ.get("IPCQ_CFFI_MODULE")
    if env == "none":
        return None
    if not env:
        try:
            from . import _ipcq_cffi
            return _ipcq_cffi
        except ImportError:
            pass
    import importlib.util
    import sysconfig
    path = env or str(_TREE / "build" / "release" / "python" / "ipcq" /
                      ("_ipcq_cffi" + sysconfig.get_config_var("EXT_SUFFIX")))
    spec = importlib.util.spec_from_file_location(__name__ + "._ipcq_cffi", path)
    try:
        if spec is None:
            raise ImportError("%s: not a Python extension module" % path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        if env:
            raise
        return None
    return module


# The library is loaded first in both modes: the compiled module's
# libipcq.so.0 is then this one (the dynamic linker takes an object already
# loaded under that soname).
_dl_ffi = _cffi.FFI()
_dl_lib = _dl_ffi.dlopen(library_path())
_module = _compiled()
if _module is not None:
    _ffi, _lib, _BACKEND = _module.ffi, _module.lib, "api"
else:
    _dl_ffi.cdef(_CDEF)
    _ffi, _lib, _BACKEND = _dl_ffi, _dl_lib, "abi"
if _lib.ipcq_version() // 10000 != _lib.IPCQ_VERSION // 10000:
    raise ImportError("libipcq %s at %s: this binding is for major version %d"
                      % (_ffi.string(_lib.ipcq_version_string()).decode(),
                         library_path(), _lib.IPCQ_VERSION // 10000))


def backend():
    """How this binding calls libipcq: "api" (the compiled module
    ipcq._ipcq_cffi) or "abi" (ffi.dlopen, nothing compiled)."""
    return _BACKEND


WAIT_DEFAULT = _lib.IPCQ_WAIT_DEFAULT
WAIT_ADAPTIVE = _lib.IPCQ_WAIT_ADAPTIVE
WAIT_BUSY_POLL = _lib.IPCQ_WAIT_BUSY_POLL
WAIT_YIELD = _lib.IPCQ_WAIT_YIELD
FULL_BLOCK = _lib.IPCQ_FULL_BLOCK
FULL_FAIL = _lib.IPCQ_FULL_FAIL
FULL_DROP_OLDEST = _lib.IPCQ_FULL_DROP_OLDEST
NACK_REQUEUE = _lib.IPCQ_NACK_REQUEUE
NACK_POISON = _lib.IPCQ_NACK_POISON
SEND_OK = 0
SEND_PRESSURE = _lib.IPCQ_SEND_PRESSURE
SEND_DUPLICATE = _lib.IPCQ_SEND_DUPLICATE
MSG_REDELIVERED = _lib.IPCQ_MSG_REDELIVERED
# in a participant_stats record's "flags": a sole handle that claims by
# store (without the bit it claims by CAS; see ipcq_attach(3))
PART_SOLE_STORE_ENQ = _lib.IPCQ_PART_SOLE_STORE_ENQ
PART_SOLE_STORE_DEQ = _lib.IPCQ_PART_SOLE_STORE_DEQ
MSG_REPLAYED = _lib.IPCQ_MSG_REPLAYED
MSG_GAP = _lib.IPCQ_MSG_GAP
MSG_KEYED = _lib.IPCQ_MSG_KEYED
GROUP_LOSSY = _lib.IPCQ_GROUP_LOSSY
GROUP_FROM_OLDEST = _lib.IPCQ_GROUP_FROM_OLDEST
REASON_NACKED = _lib.IPCQ_REASON_NACKED
REASON_MAX_DELIVERIES = _lib.IPCQ_REASON_MAX_DELIVERIES
REASON_CONSUMER_CRASHED = _lib.IPCQ_REASON_CONSUMER_CRASHED
REASON_EXPIRED = _lib.IPCQ_REASON_EXPIRED
REASON_REFUSED = _lib.IPCQ_REASON_REFUSED
REASON_TOO_LARGE = _lib.IPCQ_REASON_TOO_LARGE
CF_EXPIRY = _lib.IPCQ_CF_EXPIRY
CF_EXPIRED_TO_SIDE = _lib.IPCQ_CF_EXPIRED_TO_SIDE
CF_KEYED = _lib.IPCQ_CF_KEYED
PRIORITIES_MAX = _lib.IPCQ_PRIORITIES_MAX
AUTO = _lib.IPCQ_AUTO
POISON_ALL = _lib.IPCQ_POISON_ALL
NUMA_ANY = _lib.IPCQ_NUMA_ANY
NUMA_LOCAL = _lib.IPCQ_NUMA_LOCAL

# The longest a blocking call stays in C before it returns to the
# interpreter (which then runs pending signal handlers) and waits again.
_SLICE_NS = 50 * 1000 * 1000
_ETIMEDOUT = -_errno.ETIMEDOUT
_EINTR = -_errno.EINTR
_EAGAIN = -_errno.EAGAIN
_EINVAL = -_errno.EINVAL
# A closed Queue's handle: the library refuses it with -EINVAL.
_NULL_Q = _ffi.cast("struct ipcq *", 0)


# The hot calls, looked up once; timeout None's first slice and deadline
# (_slice(None)) without a call.
_send = _lib.ipcq_send
_recv = _lib.ipcq_recv
_from_buffer = _ffi.from_buffer
_monotonic_ns = _time.monotonic_ns
_FOREVER = (_SLICE_NS, None)

# ---- errors -----------------------------------------------------------------

class Error(OSError):
    """A call of the library failed.  .errno is the errno value (positive),
    .strerror the library's sentence for it (ipcq_strerror), .detail what
    exactly was refused (ipcq_errdetail) or "" when the call says nothing
    more, .call the C function that failed."""

    def __init__(self, rc, call="", detail=""):
        super().__init__(-rc, _ffi.string(_lib.ipcq_strerror(rc)).decode())
        self.detail = detail
        self.call = call

    def __str__(self):
        text = "%s: %s" % (self.call, self.strerror) if self.call else self.strerror
        return "%s: %s" % (text, self.detail) if self.detail else text


class Timeout(Error, TimeoutError):
    """A blocking call ran out of time (-ETIMEDOUT)."""


class WouldBlock(Error, BlockingIOError):
    """A call with timeout 0 (or the FULL_FAIL policy) could not proceed (-EAGAIN)."""


def _raise(rc, call, with_detail=False):
    detail = _ffi.string(_lib.ipcq_errdetail()).decode() if with_detail else ""
    cls = Timeout if rc == _ETIMEDOUT else WouldBlock if rc == _EAGAIN else Error
    raise cls(rc, call, detail)


def _check(rc, call, with_detail=False):
    if rc < 0:
        _raise(rc, call, with_detail)
    return rc


# ---- waiting ----------------------------------------------------------------

def _slice(timeout):
    """(first timeout in ns, deadline): deadline None waits for ever, 0 never."""
    if timeout is None:
        return _FOREVER
    if timeout <= 0:
        return 0, 0
    ns = int(timeout * 1e9)
    # Not min(): a builtin's call costs more than the comparison.
    return ns if ns < _SLICE_NS else _SLICE_NS, _monotonic_ns() + ns


def _keep_waiting(queue, fn, args, deadline):
    """Call fn(handle, *args, slice) until it does something other than
    time out or get interrupted, or the deadline passes.  Each slice takes
    queue's handle afresh: once the queue is closed (by another thread, or
    by a signal handler) the next slice raises its closed error.  The
    caller is a call in flight (Queue._calls), which keeps the handle
    alive until it returns.  Between two calls the interpreter runs
    pending signal handlers: KeyboardInterrupt leaves here."""
    while True:
        if deadline is None:
            t = _SLICE_NS
        else:
            t = deadline - _time.monotonic_ns()
            if t <= 0:
                return _ETIMEDOUT
            t = min(t, _SLICE_NS)
        rc = fn(queue._h(), *args, t)
        if rc != _ETIMEDOUT and rc != _EINTR:
            return rc


def _blocking(queue, fn, args, timeout):
    """fn(handle, *args, timeout) in slices; from a call in flight."""
    t, deadline = _slice(timeout)
    rc = fn(queue._h(), *args, t)
    if (rc == _ETIMEDOUT or rc == _EINTR) and deadline != 0:
        rc = _keep_waiting(queue, fn, args, deadline)
    return rc


def _in_flight(method):
    """Run a Queue method as a call in flight: a close() meanwhile (from
    another thread, or from a signal handler between two slices) leaves
    the handle to it, and the last call in flight to return frees it.
    The hot calls (send, recv, recv_into, peek, ack) do the same inline."""
    @_functools.wraps(method)
    def call(self, *args, **kw):
        calls = self._calls
        calls.append(None)
        try:
            return method(self, *args, **kw)
        finally:
            calls.pop()
            if self._closed:
                self._free()
    return call


# ---- records ----------------------------------------------------------------

def _msg_priority(flags):
    """The priority a message was sent with, from its flags (as
    IPCQ_MSG_PRIORITY(): bits 16-18)."""
    return (flags >> 16) & 0x7


def _info_record(cdata):
    """struct ipcq_info as a dict (_record), its lane arrays cut to the
    queue's lanes, and "lanes": each lane's depth, index = priority (one
    lane, the whole depth, on a queue without priorities)."""
    out = _record(cdata)
    n = out["priorities"]
    if n > 1:
        enq, deq = out["lane_enqueued"][:n], out["lane_dequeued"][:n]
        out["lane_enqueued"], out["lane_dequeued"] = enq, deq
        out["lanes"] = [max(e - d, 0) for e, d in zip(enq, deq)]
    else:
        out["lane_enqueued"], out["lane_dequeued"] = [out["enqueued"]], [out["dequeued"]]
        out["lanes"] = [out["depth"]]
    return out


def _record(cdata):
    """A struct as a dict of its fields (arrays as lists, nested structs as
    dicts, char arrays as str); reserved fields left out."""
    out = {}
    for name, field in _ffi.typeof(cdata).fields:
        if name.startswith("reserved") or name == "size":
            continue
        value = getattr(cdata, name)
        kind = field.type.kind
        if kind == "struct":
            value = _record(value)
        elif kind == "array" and field.type.item.cname == "char":
            value = _ffi.string(value).decode(errors="replace")
        elif kind == "array":
            value = list(value)
        out[name] = value
    return out


class MsgInfo:
    """What a receive tells besides the payload (struct ipcq_msginfo):
    len, seq, enqueue_ns, producer, deliveries, flags, stream, token, gap
    (a lossy group: messages missed just before this one), key (the
    message's key, or None: sent without one), priority (the lane it was
    sent to, 0 the lowest; 0 on a queue without priorities)."""

    __slots__ = ("len", "seq", "enqueue_ns", "producer", "deliveries", "flags",
                 "stream", "token", "gap", "key", "priority")

    def __init__(self, c):
        self.len = c.len
        self.seq = c.seq
        self.enqueue_ns = c.enqueue_ns
        self.producer = c.producer
        self.deliveries = c.deliveries
        self.flags = c.flags
        self.stream = c.stream
        self.token = c.token
        self.gap = c.gap
        self.key = c.key if c.flags & MSG_KEYED else None
        self.priority = _msg_priority(c.flags)

    @property
    def redelivered(self):
        """True when the message was delivered before (MSG_REDELIVERED)."""
        return bool(self.flags & MSG_REDELIVERED)

    @property
    def replayed(self):
        """True when it came back from the side ring (MSG_REPLAYED)."""
        return bool(self.flags & MSG_REPLAYED)

    def __repr__(self):
        return "MsgInfo(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


class Message:
    """A received message: .data (bytes), .info (MsgInfo), .token (ack mode)."""

    __slots__ = ("data", "info")

    def __init__(self, data, info):
        self.data = data
        self.info = info

    @property
    def token(self):
        """The lease token for Queue.ack() / Queue.nack() (0 in fast mode)."""
        return self.info.token


def _token(x):
    return x if isinstance(x, int) else x.token


# ---- zero copy --------------------------------------------------------------

# What .data or .buf becomes when its view cannot be released (something
# holds an export of it): a released view, so that using it raises
# ValueError as a released one does.
_GONE = memoryview(b"")
_GONE.release()
_ref = _weakref.ref


def _let_go(view):
    """Release view, a memoryview into the queue, and return what stands
    for it afterwards: view itself, released, or _GONE where an export of
    it is still held (np.frombuffer(view), pickle.PickleBuffer(view)):
    Python cannot revoke that, and it must not be used any more."""
    try:
        view.release()
        return view
    except BufferError:
        return _GONE


def _track(queue, obj, view):
    """Enter obj (a Peeked or Reservation) and view, its memoryview into
    the queue, in queue's open views, which close() and detach() release;
    each entry goes when its object is garbage.  The view on its own too:
    it may outlive obj (q.peek().data)."""
    views = queue._views
    for o in (obj, view):
        # by id: a memoryview into the queue is not hashable; the entry
        # goes when o dies, before its id can be another object's
        k = id(o)
        views[k] = _ref(o, lambda r, k=k: views.pop(k, None))


class Peeked:
    """A message read in place (Queue.peek()), a context manager.

    .data is a read-only memoryview of the payload inside the queue, valid
    until release() (the end of the with block) or the Queue's close(),
    which release it too (using it afterwards raises ValueError).  Python
    cannot revoke what was made from it meanwhile (np.frombuffer(m.data),
    a slice or memoryview(m.data), pickle.PickleBuffer(m.data)): such
    views must not be used after the block, when the slot may already hold
    another message (or, after close(), is no longer mapped); copy what
    must outlive it (bytes(m.data), array.copy()).  Holding them does not
    make release() fail: the slot is given back all the same, and .data
    is released.  .address is the payload's address, .info its MsgInfo,
    .token its lease token in ack mode (ack or nack it, before or after
    release)."""

    __slots__ = ("_queue", "data", "info", "address", "__weakref__")

    def __init__(self, queue, zmsg):
        self._queue = queue
        self.address = int(_ffi.cast("uintptr_t", zmsg.data))
        self.data = memoryview(_ffi.buffer(zmsg.data, zmsg.len)).toreadonly()
        self.info = MsgInfo(zmsg.info)
        _track(queue, self, self.data)

    @property
    def token(self):
        """The lease token (ack mode), as MsgInfo.token."""
        return self.info.token

    def release(self):
        """Give the slot back (ipcq_release) and release .data.  After the
        Queue's close(), which gave the slot back, it does nothing more."""
        q = self._queue
        if q is None:
            return
        self._queue = None
        try:
            q._give_back()
        finally:
            self.data = _let_go(self.data)

    def _close(self):
        """The Queue closes or detaches: release .data (the slot is given
        back by it)."""
        self._queue = None
        self.data = _let_go(self.data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class Reservation:
    """A slot reserved for writing in place (Queue.reserve()), a context manager.

    .buf is a writable memoryview of max_msg_size bytes inside the queue;
    .address its address.  commit(n) publishes the first n bytes as one
    message and returns SEND_OK or SEND_PRESSURE; leaving the with block
    without commit() gives the slot up (consumers pass it), and so does
    the Queue's close().  Either way .buf is released (using it afterwards
    raises ValueError); views made from it (np.frombuffer(w.buf)) must not
    be used afterwards, and holding them does not make commit() fail."""

    __slots__ = ("_queue", "buf", "address", "_lens", "__weakref__")

    def __init__(self, queue, ptr, size):
        self._queue = queue
        self.address = int(_ffi.cast("uintptr_t", ptr))
        self.buf = memoryview(_ffi.buffer(ptr, size))
        self._lens = _ffi.new("size_t[1]")
        _track(queue, self, self.buf)

    def commit(self, nbytes):
        """Publish the first nbytes of .buf (ipcq_commit)."""
        return self._finish(1, nbytes)

    def cancel(self):
        """Give the slot up unpublished (ipcq_commit of 0 slots)."""
        self._finish(0, 0)

    def _finish(self, n, nbytes):
        q = self._queue
        if q is None:
            raise Error(-_errno.EINVAL, "ipcq_commit", "the reservation is closed")
        self._lens[0] = nbytes
        rc = q._commit(self._lens, n)   # a refused commit leaves it open
        self._queue = None
        self.buf = _let_go(self.buf)
        return rc

    def _close(self):
        """The Queue closes or detaches: release .buf (the slot is given up
        by it)."""
        self._queue = None
        self.buf = _let_go(self.buf)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._queue is not None:
            self.cancel()


# ---- the queue --------------------------------------------------------------

class Queue:
    """An open queue (struct ipcq *): made by Queue.create() or Queue.open(),
    joined with attach(), let go with close() or the end of a with block.
    A handle belongs to the process that made it: a child of fork() opens
    its own.  One thread sends and one thread receives on a handle at a
    time (the C library's synchronization table); close() may come from
    any thread at any time (see close())."""

    def __init__(self, handle, name):
        """Use Queue.create() or Queue.open()."""
        self._q = handle
        # The handle until it is freed: list.pop() hands it to exactly one
        # _free(), whoever calls it (close(), the last call in flight, a
        # close() re-entered from a signal handler, __del__).
        self._box = [handle]
        self._closed = False
        self.name = name
        self._cap = 0
        self._rbuf = None
        self._rview = b""
        self._info = _ffi.new("struct ipcq_msginfo *")
        self._zmsg = _ffi.new("struct ipcq_zmsg *")
        self._detail_on_send = False
        # The calls in flight on the handle, one entry each.  list.append()
        # and list.pop() are atomic (under the GIL), so the calls count
        # themselves without a lock; a call reads _q only after its entry
        # is in, and close() sets _q to NULL before it looks at them.
        self._calls = []
        # Weak references to the open Peeked and Reservation objects and
        # to their memoryviews, which close() and detach() release, by id.
        self._views = {}

    # -- lifetime --

    @classmethod
    def create(cls, name, **config):
        """Create a queue and open it (ipcq_create).  Keyword arguments set
        the fields of struct ipcq_config: capacity, max_msg_size, mode,
        wait_strategy, spin_count, yield_count, max_participants,
        side_capacity, max_deliveries, numa_node, high_watermark,
        low_watermark, lease_capacity, grace_us, dedup_capacity,
        retry_base_us, retry_factor, retry_max_us, ttl_ms, flags (CF_EXPIRY,
        CF_EXPIRED_TO_SIDE, CF_KEYED), max_groups (consumer groups, see
        group_create()), priorities (priority lanes, 2..PRIORITIES_MAX; see
        send_priority()) and priority_share (their starvation guard,
        percent, 0..50; 0 strict); the others keep their defaults.  Raises
        Error (EEXIST, EINVAL with its detail, ENOTSUP priorities with
        max_groups, CF_KEYED or watermarks...)."""
        cfg = _ffi.new("struct ipcq_config *")
        _lib.ipcq_config_init(cfg)
        fields = {f for f, _ in _ffi.typeof(cfg[0]).fields} - {"size", "reserved"}
        for key, value in config.items():
            if key not in fields:
                raise TypeError("create(): unknown configuration field %r" % key)
            setattr(cfg, key, value)
        out = _ffi.new("struct ipcq **")
        _check(_lib.ipcq_create(name.encode(), cfg, out), "ipcq_create", True)
        return cls(out[0], name)

    @classmethod
    def open(cls, name, readonly=False, any_owner=False):
        """Open an existing queue (ipcq_open_flags): readonly for a monitor's
        handle, any_owner to accept another user's segment."""
        flags = (_lib.IPCQ_OPEN_READONLY if readonly else 0) | \
                (_lib.IPCQ_OPEN_ANY_OWNER if any_owner else 0)
        out = _ffi.new("struct ipcq **")
        _check(_lib.ipcq_open_flags(name.encode(), flags, out), "ipcq_open", True)
        return cls(out[0], name)

    def close(self):
        """Detach if attached, unmap and free the handle (ipcq_close).  The
        queue stays; see unlink().  Closing twice does nothing.

        Every open Peeked and Reservation is released (their .data and .buf
        raise ValueError afterwards; the close gives their slots back).
        Any thread may close a Queue, at any time: a call that another
        thread has in progress on it keeps the handle until it returns (a
        blocking call at the end of its current slice, within 50 ms) and
        raises Error (EINVAL, "the handle is closed"), as every later call
        does; the handle is freed (and the participant detached) when the
        last such call returns, at once when there is none."""
        if not self._box:
            return
        self._q = _NULL_Q       # every call from now on finds it closed
        self._closed = True
        # a call in flight itself while it releases the views, so that a
        # call of another thread that returns meanwhile does not free the
        # handle under them
        calls = self._calls
        calls.append(None)
        try:
            # A peek or reserve in flight that misses this snapshot finds
            # the handle gone and releases its own view (peek(), reserve()).
            self._let_views_go()
        finally:
            calls.pop()
            self._free()

    def _let_views_go(self):
        """Release every open Peeked and Reservation, and their memoryviews."""
        views = list(self._views.values())
        for r in views:
            obj = r()
            if obj is not None and not isinstance(obj, memoryview):
                obj._close()
        for r in views:
            obj = r()
            if isinstance(obj, memoryview):
                _let_go(obj)

    def _free(self):
        """ipcq_close() of the handle once it is closed and no call is in
        flight."""
        if self._calls or not self._closed:
            return
        try:
            h = self._box.pop()
        except IndexError:
            return      # freed already
        _lib.ipcq_close(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # No call is in flight now (each holds the Queue); an entry left
        # by an exception between its append and its try is stale.
        try:
            self._calls.clear()
            self.close()
        except Exception:
            pass

    def _h(self):
        """The handle, or the closed error.  From a call in flight only."""
        if self._q == _NULL_Q:
            raise Error(-_errno.EINVAL, self.name, "the handle is closed")
        return self._q

    def _fail(self, rc, call, with_detail=False):
        """Raise rc from call as Error; the closed error when the handle
        is gone (the library refuses a NULL handle with -EINVAL)."""
        if rc == _EINVAL and self._q == _NULL_Q:
            self._h()
        _raise(rc, call, with_detail)

    @_in_flight
    def _give_back(self):
        """ipcq_release() for Peeked.release(); nothing once closed (the
        close gave the slots back)."""
        rc = _lib.ipcq_release(self._q)
        if rc < 0 and self._q != _NULL_Q:
            _raise(rc, "ipcq_release")

    @_in_flight
    def _commit(self, lens, n):
        """ipcq_commit() for Reservation.commit() and cancel()."""
        rc = _lib.ipcq_commit(self._q, lens, n)
        if rc < 0:
            self._fail(rc, "ipcq_commit")
        return rc

    @_in_flight
    def attach(self, producer=False, consumer=False, *, ack=False, dedup=False,
               name=None, prefetch=None, wait=None, spin_count=None,
               yield_count=None, full_policy=None, group=None, late_release=False,
               sole=False):
        """Join the queue (ipcq_attach) as producer and/or consumer.

        ack: ack-mode consumer (IPCQ_ATTACH_ACK), holding at most prefetch
        unacknowledged messages.  dedup: a named producer
        (IPCQ_ATTACH_DEDUP) under name; see last_seq() and send_seq().
        name: the participant's name for monitors.  wait: WAIT_*;
        spin_count, yield_count: overrides of the queue's; full_policy:
        FULL_BLOCK, FULL_FAIL or FULL_DROP_OLDEST.  group: the consumer
        group to receive in, required on a queue made with max_groups.
        late_release: a receive keeps its message's slot until the next
        receive or release() (IPCQ_ATTACH_LATE_RELEASE).  sole: the queue's
        only producer and/or consumer, claiming without a locked instruction
        (IPCQ_ATTACH_SOLE); others of that role get EBUSY while it is
        attached.  Raises Error with the library's detail (EINVAL, EBUSY a
        live process holds the name or the seat, ...)."""
        roles = (_lib.IPCQ_ROLE_PRODUCER if producer else 0) | \
                (_lib.IPCQ_ROLE_CONSUMER if consumer else 0)
        opts = _ffi.new("struct ipcq_attach_opts *")
        _lib.ipcq_attach_opts_init(opts)
        cname = _ffi.new("char[]", name.encode()) if name is not None else _ffi.NULL
        opts.name = cname
        cgroup = _ffi.new("char[]", group.encode()) if group is not None else _ffi.NULL
        opts.group = cgroup
        opts.flags = (_lib.IPCQ_ATTACH_ACK if ack else 0) | \
                     (_lib.IPCQ_ATTACH_DEDUP if dedup else 0) | \
                     (_lib.IPCQ_ATTACH_LATE_RELEASE if late_release else 0) | \
                     (_lib.IPCQ_ATTACH_SOLE if sole else 0)
        for field, value in (("prefetch", prefetch), ("wait_strategy", wait),
                             ("spin_count", spin_count), ("yield_count", yield_count),
                             ("full_policy", full_policy)):
            if value is not None:
                setattr(opts, field, value)
        _check(_lib.ipcq_attach(self._h(), roles, opts), "ipcq_attach", True)
        self._detail_on_send = full_policy == FULL_FAIL
        if consumer and self._rbuf is None:
            self._cap = self.info()["max_msg_size"]
            self._rbuf = _ffi.new("char[]", self._cap)
            self._rview = _ffi.buffer(self._rbuf)
        return self

    @_in_flight
    def release(self):
        """A consumer attached with late_release: give back the slots its
        last receive kept (ipcq_release; the next receive would have).
        Raises Error (EINVAL) when nothing is kept."""
        _check(_lib.ipcq_release(self._h()), "ipcq_release")

    @_in_flight
    def detach(self):
        """Leave the participant table (ipcq_detach); the handle stays open.
        Open Peeked and Reservation objects are released, as by close():
        the detach gives their slots back."""
        _check(_lib.ipcq_detach(self._h()), "ipcq_detach")
        self._let_views_go()

    # -- consumer groups --

    @_in_flight
    def group_create(self, name, lossy=False, from_oldest=False):
        """Add a consumer group (ipcq_group_create): every group receives
        every message, its consumers share them.  lossy: it never holds
        producers back and reports what it missed (MsgInfo.gap);
        from_oldest: start at the oldest message still in the ring.
        Returns the group's index."""
        flags = (GROUP_LOSSY if lossy else 0) | (GROUP_FROM_OLDEST if from_oldest else 0)
        return _check(_lib.ipcq_group_create(self._h(), name.encode(), flags),
                      "ipcq_group_create", True)

    @_in_flight
    def group_remove(self, name):
        """Remove a consumer group with no live consumer (ipcq_group_remove)."""
        _check(_lib.ipcq_group_remove(self._h(), name.encode()), "ipcq_group_remove", True)

    @_in_flight
    def groups(self):
        """The queue's groups (ipcq_group_list), each a dict of struct
        ipcq_group_info's fields."""
        n = _check(_lib.ipcq_group_list(self._h(), _ffi.NULL, 0), "ipcq_group_list")
        while True:
            out = _ffi.new("struct ipcq_group_info[]", max(n, 1))
            got = _check(_lib.ipcq_group_list(self._h(), out, n), "ipcq_group_list")
            if got <= n:
                break
            n = got
        return [_record(out[i]) for i in range(got)]

    # -- sending --

    def _send_error(self, rc, call):
        self._fail(rc, call, rc == _EAGAIN and self._detail_on_send)

    def send(self, data, timeout=None):
        """Enqueue one message (ipcq_send).  data: anything with the buffer
        protocol (bytes, bytearray, memoryview, a C-contiguous numpy array),
        passed to C by address, without a copy.  Returns SEND_OK, or
        SEND_PRESSURE when the queue is above its high watermark (a named
        producer's send may return SEND_DUPLICATE only from send_seq())."""
        # bytes go to C as they are (cffi passes their own storage); other
        # buffers through from_buffer(), which is dearer (~0.2 us).
        if type(data) is not bytes:
            data = _from_buffer(data)
        t, deadline = _FOREVER if timeout is None else _slice(timeout)
        # A call in flight, as _in_flight makes one, inline; a closed
        # handle (NULL) is refused by the library with -EINVAL.
        calls = self._calls
        calls.append(None)
        try:
            rc = _send(self._q, data, len(data), t)
            if rc < 0:
                if (rc == _ETIMEDOUT or rc == _EINTR) and deadline != 0:
                    rc = _keep_waiting(self, _send, (data, len(data)), deadline)
                if rc < 0:
                    self._send_error(rc, "ipcq_send")
            return rc
        finally:
            calls.pop()
            if self._closed:
                self._free()

    @_in_flight
    def send_ttl(self, data, ttl, timeout=None):
        """Enqueue one message that is never delivered after ttl seconds
        from now (ipcq_send_ex with a time to live); the queue must be
        created with flags=CF_EXPIRY or a ttl_ms.  Returns as send()."""
        buf = _ffi.from_buffer(data)
        opts = _ffi.new("struct ipcq_send_opts *")
        opts.size = _ffi.sizeof("struct ipcq_send_opts")
        opts.ttl_ns = max(1, int(ttl * 1e9))
        rc = _blocking(self, _lib.ipcq_send_ex, (buf, len(buf), opts), timeout)
        if rc < 0:
            _raise(rc, "ipcq_send_ex", rc == _EINVAL or self._detail_on_send)
        return rc

    @_in_flight
    def send_key(self, data, key, timeout=None):
        """Enqueue one message with a key, any integer in [0, 2**64)
        (ipcq_send_ex with IPCQ_SEND_F_KEY); the queue must be created
        with flags=CF_KEYED.  Ack-mode consumers get the messages of one
        key one at a time, in order (MsgInfo.key).  Returns as send()."""
        buf = _ffi.from_buffer(data)
        opts = _ffi.new("struct ipcq_send_opts *")
        opts.size = _ffi.sizeof("struct ipcq_send_opts")
        opts.flags = _lib.IPCQ_SEND_F_KEY
        opts.key = key
        rc = _blocking(self, _lib.ipcq_send_ex, (buf, len(buf), opts), timeout)
        if rc < 0:
            _raise(rc, "ipcq_send_ex", rc == _EINVAL or self._detail_on_send)
        return rc

    @_in_flight
    def send_priority(self, data, priority, timeout=None):
        """Enqueue one message into priority lane priority, 0 (the lowest,
        where send() goes) to the queue's priorities - 1 (ipcq_send_ex
        with opts.priority); the queue must be created with priorities=N.
        A receive takes the highest lane that has a message first, but for
        the starvation guard (priority_share); MsgInfo.priority tells the
        lane.  When the lane is full the send waits, fails or drops as
        send() does, whatever room the other lanes have.  Returns as
        send()."""
        buf = _ffi.from_buffer(data)
        opts = _ffi.new("struct ipcq_send_opts *")
        opts.size = _ffi.sizeof("struct ipcq_send_opts")
        opts.priority = priority
        rc = _blocking(self, _lib.ipcq_send_ex, (buf, len(buf), opts), timeout)
        if rc < 0:
            _raise(rc, "ipcq_send_ex", rc == _EINVAL or self._detail_on_send)
        return rc

    @_in_flight
    def send_seq(self, seq, data, timeout=None):
        """Enqueue one message of a named producer with the application's
        sequence number (ipcq_send_seq).  Returns SEND_OK, SEND_PRESSURE, or
        SEND_DUPLICATE when seq is not above last_seq() (nothing enqueued)."""
        buf = _ffi.from_buffer(data)
        rc = _blocking(self, _lib.ipcq_send_seq, (seq, buf, len(buf)), timeout)
        if rc < 0:
            self._send_error(rc, "ipcq_send_seq")
        return rc

    @_in_flight
    def send_batch(self, messages, timeout=None):
        """Enqueue as many of messages (a sequence of buffers), in order, as
        there is room for with one atomic claim (ipcq_send_batch); returns
        how many (at least 1).  The caller sends the rest again."""
        bufs = [_ffi.from_buffer(m) for m in messages]
        arr = _ffi.new("struct ipcq_buf[]", [(b, len(b)) for b in bufs])
        rc = _blocking(self, _lib.ipcq_send_batch, (arr, len(bufs)), timeout)
        if rc < 0:
            self._send_error(rc, "ipcq_send_batch")
        return rc

    @_in_flight
    def last_seq(self):
        """The last sequence the queue accepted under this named producer's
        name (ipcq_last_seq): where a restarted producer resumes."""
        out = _ffi.new("uint64_t *")
        _check(_lib.ipcq_last_seq(self._h(), out), "ipcq_last_seq")
        return out[0]

    @_in_flight
    def dedup_remove(self, name):
        """Retire a producer name from the dedup table (ipcq_dedup_remove)."""
        _check(_lib.ipcq_dedup_remove(self._h(), name.encode()), "ipcq_dedup_remove")

    @_in_flight
    def pressure(self):
        """True while the queue is above its high watermark (ipcq_pressure)."""
        return bool(_check(_lib.ipcq_pressure(self._h()), "ipcq_pressure"))

    @_in_flight
    def wait_pressure(self, timeout=None):
        """Wait until the queue is no longer under pressure (ipcq_wait_pressure)."""
        _check(_blocking(self, _lib.ipcq_wait_pressure, (), timeout),
               "ipcq_wait_pressure")

    # -- receiving --

    def recv(self, timeout=None):
        """Dequeue one message (ipcq_recv) and return its payload as bytes;
        last_info tells its metadata (and its lease token in ack mode)."""
        t, deadline = _FOREVER if timeout is None else _slice(timeout)
        calls = self._calls
        calls.append(None)
        try:
            rc = _recv(self._q, self._rbuf, self._cap, self._info, t)
            if rc < 0:
                if (rc == _ETIMEDOUT or rc == _EINTR) and deadline != 0:
                    rc = _keep_waiting(self, _recv, (self._rbuf, self._cap, self._info),
                                       deadline)
                if rc < 0:
                    self._fail(rc, "ipcq_recv")
            return self._rview[:rc]
        finally:
            calls.pop()
            if self._closed:
                self._free()

    def recv_into(self, buffer, timeout=None):
        """Dequeue one message straight into buffer (a writable buffer: a
        bytearray, a numpy array...), without another copy, and return its
        length.  A buffer too small raises Error ENOBUFS and leaves the
        message queued (last_info.len says the room it needs)."""
        # from_buffer's arguments by position: a keyword costs ~0.2 us.
        buf = _from_buffer("char[]", buffer, True)
        t, deadline = _FOREVER if timeout is None else _slice(timeout)
        calls = self._calls
        calls.append(None)
        try:
            rc = _recv(self._q, buf, len(buf), self._info, t)
            if rc < 0:
                if (rc == _ETIMEDOUT or rc == _EINTR) and deadline != 0:
                    rc = _keep_waiting(self, _recv, (buf, len(buf), self._info), deadline)
                if rc < 0:
                    self._fail(rc, "ipcq_recv")
            return rc
        finally:
            calls.pop()
            if self._closed:
                self._free()

    def recv_msg(self, timeout=None):
        """recv() that returns a Message: its data and its MsgInfo."""
        data = self.recv(timeout)
        return Message(data, MsgInfo(self._info))

    @property
    def last_info(self):
        """MsgInfo of the last message received on this handle (recv,
        recv_into, recv_msg)."""
        return MsgInfo(self._info)

    def peek(self, timeout=None):
        """Claim the next message and read it in place (ipcq_peek): returns
        a Peeked, a context manager whose .data is a memoryview into the
        queue, valid until its release() or close()."""
        calls = self._calls
        calls.append(None)
        try:
            rc = _blocking(self, _lib.ipcq_peek, (self._zmsg, 1), timeout)
            if rc < 0:
                self._fail(rc, "ipcq_peek")
            peeked = Peeked(self, self._zmsg)
            if self._q == _NULL_Q:
                # closed meanwhile, maybe after close() released the open
                # views: this one goes too (the close gives its slot back)
                peeked._close()
                self._h()
            return peeked
        finally:
            calls.pop()
            if self._closed:
                self._free()

    @_in_flight
    def reserve(self, timeout=None):
        """Claim a slot to write one message in place (ipcq_reserve):
        returns a Reservation, a context manager whose .buf is a writable
        memoryview of max_msg_size bytes inside the queue; commit(n) sends."""
        ptr = _ffi.new("void *[1]")
        rc = _blocking(self, _lib.ipcq_reserve, (1, ptr), timeout)
        if rc < 0:
            self._send_error(rc, "ipcq_reserve")
        res = Reservation(self, ptr[0], self.info()["max_msg_size"])
        if self._q == _NULL_Q:
            res._close()    # as in peek()
            self._h()
        return res

    # -- ack mode --

    def ack(self, token):
        """The message is processed: free its lease (ipcq_ack).  token: a
        MsgInfo.token, or a Message, MsgInfo or Peeked."""
        calls = self._calls
        calls.append(None)
        try:
            rc = _lib.ipcq_ack(self._q, _token(token))
            if rc < 0:
                self._fail(rc, "ipcq_ack")
        finally:
            calls.pop()
            if self._closed:
                self._free()

    @_in_flight
    def nack(self, token, action=NACK_REQUEUE, delay=None):
        """Give the message back unprocessed (ipcq_nack): NACK_REQUEUE
        delivers it again (after the queue's retry backoff, or, with delay
        in seconds, not before that: ipcq_nack_delay), NACK_POISON moves it
        to the side ring.  Returns True when it went to the side ring."""
        if delay is not None:
            if action != NACK_REQUEUE:
                raise ValueError("a delay is for NACK_REQUEUE only")
            rc = _lib.ipcq_nack_delay(self._h(), _token(token), int(delay * 1e9))
            return _check(rc, "ipcq_nack_delay") == 1
        return _check(_lib.ipcq_nack(self._h(), _token(token), action), "ipcq_nack") == 1

    @_in_flight
    def recover(self):
        """Take over the unfinished work of dead participants now
        (ipcq_recover); returns its report as a dict."""
        rep = _ffi.new("struct ipcq_recovery *")
        rep.size = _ffi.sizeof(rep[0])
        actions = _check(_lib.ipcq_recover(self._h(), rep), "ipcq_recover", True)
        out = _record(rep[0])
        out["actions"] = actions
        return out

    # -- the poison side ring --

    @_in_flight
    def poison_list(self, after=0):
        """Every side-ring entry with an id above after, oldest first, as
        dicts (ipcq_poison_list): id, len, seq, first_ns, last_ns,
        producer, deliveries, reason, last_consumer, last_consumer_pid, stream."""
        out = []
        page = _ffi.new("struct ipcq_poison[64]")
        while True:
            n = _check(_lib.ipcq_poison_list(self._h(), after, page, 64), "ipcq_poison_list")
            out.extend(_record(page[i]) for i in range(n))
            if n < 64:
                return out
            after = page[n - 1].id

    @_in_flight
    def poison_peek(self, entry_id):
        """The payload of one side-ring entry, as bytes (ipcq_poison_peek)."""
        info = _ffi.new("struct ipcq_poison *")
        h = self._h()
        rc = _lib.ipcq_poison_peek(h, entry_id, _ffi.NULL, 0, info)
        while rc == -_errno.ENOBUFS:
            buf = _ffi.new("char[]", info.len)
            rc = _lib.ipcq_poison_peek(h, entry_id, buf, info.len, info)
            if rc >= 0:
                return _ffi.unpack(buf, rc)
        _check(rc, "ipcq_poison_peek")
        return b""

    @_in_flight
    def poison_replay(self, entry_id=POISON_ALL):
        """Put side-ring entries back into the main ring (ipcq_poison_replay);
        returns how many."""
        return _check(_lib.ipcq_poison_replay(self._h(), entry_id), "ipcq_poison_replay", True)

    @_in_flight
    def poison_purge(self, entry_id=POISON_ALL):
        """Delete side-ring entries (ipcq_poison_purge); returns how many."""
        return _check(_lib.ipcq_poison_purge(self._h(), entry_id), "ipcq_poison_purge")

    # -- inspection --

    @_in_flight
    def info(self):
        """The queue's shape and state as a dict (ipcq_info).  "lanes" is
        each priority lane's depth, index = priority (a queue without
        priorities: one lane); lane_enqueued and lane_dequeued have one
        entry per lane."""
        info = _ffi.new("struct ipcq_info *")
        info.size = _ffi.sizeof(info[0])
        _check(_lib.ipcq_info(self._h(), info), "ipcq_info")
        return _info_record(info[0])

    @_in_flight
    def stats(self):
        """A snapshot of every counter as a dict (ipcq_stats): the queue's
        figures, "info" (as info()), and "participant_stats", one dict per
        attached participant (alive or dead)."""
        st = _ffi.new("struct ipcq_stats *")
        st.size = _ffi.sizeof(st[0])
        room = self.info()["max_participants"]
        parts = _ffi.new("struct ipcq_participant_stats[]", room)
        n = _check(_lib.ipcq_stats(self._h(), st, parts, room), "ipcq_stats")
        out = _record(st[0])
        out["info"] = _info_record(st[0].info)
        out["participant_stats"] = [_record(parts[i]) for i in range(n)]
        return out

    @_in_flight
    def numa_node(self):
        """The NUMA node the queue is bound to, or NUMA_ANY (ipcq_numa_node)."""
        return _check(_lib.ipcq_numa_node(self._h()), "ipcq_numa_node")


# ---- module functions -------------------------------------------------------

def unlink(name):
    """Remove a queue's name (ipcq_unlink); attached processes keep working."""
    _check(_lib.ipcq_unlink(name.encode()), "ipcq_unlink", True)


def sweep():
    """Remove what creators killed inside create left behind (ipcq_sweep)."""
    return _check(_lib.ipcq_sweep(), "ipcq_sweep")


def list_queues():
    """The names of the queues on this machine (as ipcq_list)."""
    return sorted(n[5:] for n in _os.listdir("/dev/shm") if n.startswith("ipcq."))


def version():
    """The version of the loaded libipcq, "MAJOR.MINOR.PATCH"."""
    return _ffi.string(_lib.ipcq_version_string()).decode()
