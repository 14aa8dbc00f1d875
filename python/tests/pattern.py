"""The test pattern of tests/testutil.h (t_fill), in Python: a 16-byte
header (producer tag, sequence) then bytes derived from both, so that a
torn, mixed or misplaced message is seen.  peer_len() is peer.c's length."""

import struct

import numpy as np

_K1 = 0x9E3779B97F4A7C15
_K2 = np.uint64(0x100000001B3)
_MASK = (1 << 64) - 1


def peer_len(seq):
    """The length of message seq, as peer.c makes it."""
    return 16 + seq * 7 % 200


def fill(tag, seq, length=None):
    """The payload of message seq of producer tag, as bytes."""
    n = peer_len(seq) if length is None else length
    head = struct.pack("<IIQ", tag, 0, seq)[:n]
    if n <= 16:
        return head
    i = np.arange(16, n, dtype=np.uint64)
    x = np.uint64(((seq * _K1) ^ (tag << 40)) & _MASK) ^ (i * _K2)
    body = (x ^ (x >> np.uint64(29)) ^ (x >> np.uint64(47))).astype(np.uint8)
    return head + body.tobytes()


def header(payload):
    """(tag, seq) of a payload of at least 16 bytes."""
    tag, _, seq = struct.unpack_from("<IIQ", payload)
    return tag, seq
