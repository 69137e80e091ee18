"""A report's payload compressed once, when the worker stores it, and sent as gzip inside the
JSON envelope of /api/report without compressing it again per request.

The payload is kept as raw DEFLATE blocks ended by a sync flush, with no final block: such
blocks can be followed by more. A response is then one gzip member (RFC 1952): a header, the
envelope's head as a stored (uncompressed) block, the payload's blocks as they are, the tail
stored and final, and the trailer: the CRC-32 and length of the whole. One member, not a gzip
per piece, because some clients (Chromium among them) read only the first member of a
concatenated gzip.

The CRC-32 of the whole comes from the pieces' CRCs (zlib's crc32_combine), so the payload is
never read again to send it. Python's zlib module does not expose crc32_combine, and no
well-kept package on the registry does just that, so the two small functions of zlib's own
crc32.c (multmodp, x2nmodp) are written out here, checked against zlib.crc32 in the tests.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache

# The payload is written once per fetch and sent many times: zlib's default level costs a few
# ms a fetch and brings a 7-day report's 124 KB of JSON to about a fifth (bench "compressed").
LEVEL = 6
_RAW_DEFLATE = -15  # wbits: DEFLATE blocks with no zlib or gzip wrapper
# ID1 ID2, CM=deflate, no flags, no mtime, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_CRC_POLY = 0xEDB88320  # CRC-32 (gzip's), reflected
_STORED_MAX = 0xFFFF  # bytes in one stored block


@dataclass(frozen=True)
class DeflatedPayload:
    """Raw DEFLATE blocks of a payload, not final, with the payload's CRC-32 and length."""

    blocks: bytes
    crc32: int
    size: int

    @classmethod
    def of(cls, raw: bytes) -> DeflatedPayload:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, _RAW_DEFLATE)
        blocks = compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return cls(blocks=blocks, crc32=zlib.crc32(raw), size=len(raw))

    def inflate(self) -> bytes:
        # A decompressobj, not zlib.decompress: the stream has no final block by design.
        return zlib.decompressobj(_RAW_DEFLATE).decompress(self.blocks)


def gzip_wrap(*, head: bytes, payload: DeflatedPayload, tail: bytes) -> bytes:
    """head + payload + tail as one gzip member, the payload's blocks copied as they are. A
    head that is the same on every call (the JSON envelope's start) costs nothing after the
    first: its stored block, and its CRC combined with the payload's, are kept."""
    crc = zlib.crc32(tail, _head_payload_crc(head, payload.crc32, payload.size))
    size = len(head) + payload.size + len(tail)
    return b"".join(
        (
            _GZIP_HEADER,
            _stored_head(head),
            payload.blocks,
            _stored(tail, final=True),
            struct.pack("<II", crc, size & 0xFFFFFFFF),
        )
    )


@lru_cache(maxsize=4096)
def _head_payload_crc(head: bytes, payload_crc: int, payload_size: int) -> int:
    """crc32(head + payload), by payload: its results are read again and again."""
    return crc32_combine(zlib.crc32(head), payload_crc, payload_size)


@lru_cache(maxsize=16)
def _stored_head(head: bytes) -> bytes:
    return _stored(head, final=False)


def _stored(data: bytes, *, final: bool) -> bytes:
    """data as DEFLATE stored blocks (RFC 1951 3.2.4), not compressed: the envelope's hundred
    bytes saved a few dozen on the wire and cost a compressor's setup on every request. Each
    block starts on a byte boundary here (the stream's start, or after a sync flush), so its
    header is one byte (BFINAL, BTYPE 00) and LEN, NLEN."""
    chunks = [data[at : at + _STORED_MAX] for at in range(0, len(data), _STORED_MAX)] or [b""]
    return b"".join(
        struct.pack("<BHH", final and index == len(chunks) - 1, len(chunk), len(chunk) ^ 0xFFFF)
        + chunk
        for index, chunk in enumerate(chunks)
    )


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B), as zlib's crc32_combine."""
    return _multmodp(_x2nmodp(len2, 3), crc1) ^ crc2


def _multmodp(a: int, b: int) -> int:
    """a times b modulo the CRC polynomial (bits reflected, as in zlib's crc32.c)."""
    m = 1 << 31
    product = 0
    while True:
        if a & m:
            product ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


@lru_cache(maxsize=4096)
def _x2nmodp(n: int, k: int) -> int:
    """x to the power n * 2**k modulo the polynomial: shifts a CRC past n bytes (k=3). Cached:
    a payload's length comes back on every request for it."""
    power = 1 << 31  # x**0
    while n:
        if n & 1:
            power = _multmodp(_x2n_table()[k & 31], power)
        n >>= 1
        k += 1
    return power


@cache
def _x2n_table() -> tuple[int, ...]:
    """x**(2**k) modulo the polynomial, k = 0..31."""
    table = [1 << 30]  # x**1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return tuple(table)
