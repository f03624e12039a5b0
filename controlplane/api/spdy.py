"""SPDY/3.1 framing, the server's half, as much as Kubernetes' stream protocols need.

kubectl 1.37 runs port-forward as SPDY/3.1 tunnelled through a WebSocket: the WebSocket's
binary messages are a plain byte stream carrying SPDY frames. This module owns turning
those bytes into frames (SYN_STREAM with its headers, DATA, RST_STREAM, PING, GOAWAY; the
rest are read and ignored) and encoding the frames the server sends. Name/value header
blocks are zlib-compressed with the dictionary of the SPDY/3 draft (section 2.6.10.1), one
compression context per direction for the whole connection.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
CANCEL = 5  # RST_STREAM status
MAX_DATA = 32 * 1024  # bytes per DATA frame we send (the format allows 16 MiB)

# The SPDY/3 header dictionary: length-prefixed names and values, then common text.
_WORDS = ((
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date "
    "etag expect expires from host if-match if-modified-since if-none-match if-range "
    "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
    "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status").split()
    + ["200 OK"] + "version HTTP/1.1 url public set-cookie keep-alive origin".split())
_TEXT = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TEXT.encode()
assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2  # the dictionary id SPDY/3 peers put in zlib's header


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1; the session cannot go on."""


@dataclass
class SynStream:
    stream_id: int
    headers: dict[str, str]
    fin: bool


@dataclass
class Data:
    stream_id: int
    data: bytes
    fin: bool


@dataclass
class Control:
    """Any other control frame: kind, and for RST_STREAM/PING/GOAWAY the id it names."""
    kind: int
    ident: int = 0
    payload: bytes = field(default=b"", repr=False)


Frame = SynStream | Data | Control


class Reader:
    """Bytes in (any split), frames out."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if len(self._buf) < 8 + length:
                break
            head, body = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            frames.append(self._frame(head, body))
        return frames

    def _frame(self, head: bytes, body: bytes) -> Frame:
        word, flags = struct.unpack(">I", head[:4])[0], head[4]
        if not word & 0x80000000:
            return Data(word & 0x7FFFFFFF, body, bool(flags & FLAG_FIN))
        version, kind = (word >> 16) & 0x7FFF, word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version} is not supported (only {VERSION})")
        ident = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF if len(body) >= 4 else 0
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("short SYN_STREAM frame")
            return SynStream(ident, self._headers(body[10:]), bool(flags & FLAG_FIN))
        if kind == HEADERS:
            self._headers(body[4:])  # keeps the shared decompression context in step
        return Control(kind, ident, body)

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._inflate.decompress(block)
            (count,), pos, out = struct.unpack_from(">I", raw), 4, {}
            for _ in range(count):
                parts = []
                for _ in range(2):
                    (size,) = struct.unpack_from(">I", raw, pos)
                    parts.append(raw[pos + 4:pos + 4 + size].decode())
                    pos += 4 + size
                out[parts[0].lower()] = parts[1]
        except (zlib.error, struct.error, UnicodeDecodeError) as exc:
            raise ProtocolError(f"bad SPDY header block: {exc}") from None
        return out


class Writer:
    """Frames out as bytes; one compression context for every header block we send."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def _control(self, kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        pairs = list((headers or {}).items())
        raw = struct.pack(">I", len(pairs)) + b"".join(
            struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode() for k, v in pairs)
        block = self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return self._control(SYN_REPLY, 0, struct.pack(">I", stream_id) + block)

    def rst_stream(self, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ident: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ident))

    def goaway(self, last_stream_id: int) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))

    @staticmethod
    def data(stream_id: int, data: bytes, fin: bool = False) -> list[bytes]:
        """`data` as DATA frames of at most MAX_DATA bytes; FIN on the last (an empty one if none)."""
        chunks = [data[i:i + MAX_DATA] for i in range(0, len(data), MAX_DATA)] or [b""]
        return [struct.pack(">II", stream_id, ((FLAG_FIN if fin and i == len(chunks) - 1 else 0) << 24)
                            | len(chunk)) + chunk for i, chunk in enumerate(chunks)]
