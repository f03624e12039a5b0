"""The SPDY/3.1 codec kubectl's port-forward tunnel needs: frames as kubectl 1.37 sends them,
split anywhere, and the frames the server sends, readable by a SPDY/3 peer."""

from __future__ import annotations

import struct
import zlib

import pytest

from controlplane.api import spdy

# kubectl 1.37's first frame for `port-forward POD 8080:80` (captured): SYN_STREAM of stream 1,
# its header block compressed with the SPDY/3 dictionary.
KUBECTL_SYN = (b"\x80\x03\x00\x01\x00\x00\x00=\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
               b"x\xf9\xe3\xc6\xa7\xc2\x02%:p:+)JM\xcc\x85\x16%\xac\xa9\xa0\x80\x86\x14\xcbE\xa0$"
               b"\xccda\xc0\xc0\xc0\xc0Y\x04\x89\xc4LP\xe2f4\x00\x00\x00\x00\xff\xff")


def test_kubectl_s_syn_stream_is_read_whatever_the_message_boundaries() -> None:
    want = [spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, fin=False)]
    assert spdy.Reader().feed(KUBECTL_SYN) == want
    reader = spdy.Reader()
    got = [f for i in range(len(KUBECTL_SYN)) for f in reader.feed(KUBECTL_SYN[i:i + 1])]
    assert got == want


def test_data_frames_carry_fin_on_the_last_chunk() -> None:
    frames = spdy.Writer.data(3, b"x" * (spdy.MAX_DATA + 1), fin=True)
    assert [spdy.Reader().feed(f) for f in frames] == [[spdy.Data(3, b"x" * spdy.MAX_DATA, False)],
                                                      [spdy.Data(3, b"x", True)]]
    assert spdy.Reader().feed(spdy.Writer.data(5, b"", fin=True)[0]) == [spdy.Data(5, b"", True)]


def test_control_frames_the_server_sends() -> None:
    writer = spdy.Writer()
    reply = writer.syn_reply(1)
    assert reply[:4] == b"\x80\x03\x00\x02" and struct.unpack(">I", reply[8:12]) == (1,)
    inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)  # as the peer reads it
    assert inflate.decompress(reply[12:]) == b"\x00\x00\x00\x00"  # no headers
    second = writer.syn_reply(3, {"a": "b"})  # the same compression context
    assert inflate.decompress(second[12:]) == b"\x00\x00\x00\x01\x00\x00\x00\x01a\x00\x00\x00\x01b"
    assert spdy.Reader().feed(writer.ping(7)) == [spdy.Control(spdy.PING, 7, b"\x00\x00\x00\x07")]


def test_a_foreign_version_is_a_protocol_error() -> None:
    with pytest.raises(spdy.ProtocolError, match="SPDY version 2 is not supported"):
        spdy.Reader().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
