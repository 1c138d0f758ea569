"""The simulator's own FIX 4.4 tag=value codec (pure Python, independent of ems._core).

Messages are lists of `(tag, value)` pairs in wire order. `encode` adds BeginString,
BodyLength and CheckSum; `FrameReader` cuts a TCP byte stream into whole messages and
checks both. Data fields (RawData 96 after RawDataLength 95, and the other FIX 4.4
pairs) may contain SOH, so their length comes from the preceding length field, as FIX
requires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SOH = b"\x01"
BEGIN_STRING = b"FIX.4.4"
_DATA_LENGTH = {
    90: 91,  # SecureDataLen, SecureData
    93: 89,  # SignatureLength, Signature
    95: 96,  # RawDataLength, RawData
    212: 213,  # XmlDataLen, XmlData
    348: 349,  # EncodedIssuerLen, EncodedIssuer
    350: 351,  # EncodedSecurityDescLen, EncodedSecurityDesc
    352: 353,  # EncodedListExecInstLen, EncodedListExecInst
    354: 355,  # EncodedTextLen, EncodedText
    356: 357,  # EncodedSubjectLen, EncodedSubject
    358: 359,  # EncodedHeadlineLen, EncodedHeadline
    360: 361,  # EncodedAllocTextLen, EncodedAllocText
    362: 363,  # EncodedUnderlyingIssuerLen, EncodedUnderlyingIssuer
    364: 365,  # EncodedUnderlyingSecurityDescLen, EncodedUnderlyingSecurityDesc
    445: 446,  # EncodedListStatusTextLen, EncodedListStatusText
    618: 619,  # EncodedLegIssuerLen, EncodedLegIssuer
    621: 622,  # EncodedLegSecurityDescLen, EncodedLegSecurityDesc
}
"""FIX 4.4 length fields and the data field each announces (the data may hold SOH)."""


class FixFormatError(ValueError):
    """Bytes that are not a well-formed FIX message; `offset` is where it went wrong."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


def utc_timestamp(unix_s: float | None = None) -> str:
    """FIX UTCTimestamp with milliseconds, e.g. `20260101-12:00:00.000`."""
    now = time.time() if unix_s is None else unix_s
    whole = int(now)
    ms = int((now - whole) * 1000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}"


def encode(fields: list[tuple[int, str]]) -> bytes:
    """A whole message from its fields, starting at MsgType (35)."""
    body = b"".join(b"%d=%s\x01" % (tag, value.encode()) for tag, value in fields)
    head = b"8=" + BEGIN_STRING + b"\x019=%d\x01" % len(body)
    total = sum(head) + sum(body)
    return head + body + b"10=%03d\x01" % (total % 256)


@dataclass(slots=True)
class Message:
    """A decoded message: every field in order, with first-occurrence lookup."""

    fields: list[tuple[int, str]]
    raw: bytes
    _index: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tag, value in self.fields:
            self._index.setdefault(tag, value)

    def get(self, tag: int, default: str | None = None) -> str | None:
        """The first value of `tag`, or `default`."""
        return self._index.get(tag, default)

    def has(self, tag: int) -> bool:
        """Whether the message carries `tag`."""
        return tag in self._index

    @property
    def msg_type(self) -> str:
        """MsgType (35)."""
        return self._index.get(35, "")

    @property
    def seq(self) -> int:
        """MsgSeqNum (34), 0 when absent or not a number."""
        text = self._index.get(34, "")
        return int(text) if text.isdigit() else 0

    @property
    def poss_dup(self) -> bool:
        """PossDupFlag (43) is Y."""
        return self._index.get(43) == "Y"


def decode(raw: bytes) -> Message:
    """Parses one whole message (BodyLength and CheckSum already checked by the reader)."""
    fields: list[tuple[int, str]] = []
    i = 0
    end = len(raw) - 7  # the trailer "10=nnn\x01"
    data_length: dict[int, int] = {}
    while i < end:
        eq = raw.find(b"=", i, end)
        if eq <= i:
            raise FixFormatError("missing '='", i)
        tag_text = raw[i:eq]
        if not tag_text.isdigit():
            raise FixFormatError("tag is not a number", i)
        tag = int(tag_text)
        start = eq + 1
        if tag in data_length:
            stop = start + data_length.pop(tag)
            if stop >= len(raw) or raw[stop : stop + 1] != SOH:
                raise FixFormatError("data field length mismatch", start)
        else:
            stop = raw.find(SOH, start, end + 1)
            if stop < 0:
                raise FixFormatError("field not terminated", start)
        value = raw[start:stop].decode("utf-8", errors="replace")
        if tag in _DATA_LENGTH:
            if not value.isdigit():
                raise FixFormatError("data length is not a number", start)
            data_length[_DATA_LENGTH[tag]] = int(value)
        fields.append((tag, value))
        i = stop + 1
    if len(fields) < 3 or fields[2][0] != 35:
        raise FixFormatError("third field must be MsgType (35)", 0)
    return Message(fields, raw)


class FrameReader:
    """Accumulates stream bytes and yields complete, checksum-verified messages."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Adds bytes; returns every whole message now available (raises on garbage)."""
        self._buf += data
        out: list[bytes] = []
        while True:
            length = self._frame_length()
            if length is None:
                return out
            raw = bytes(self._buf[:length])
            del self._buf[:length]
            trailer = raw[-7:]
            if trailer[:3] != b"10=" or trailer[6:] != SOH:
                raise FixFormatError("bad CheckSum field", length - 7)
            want = int(trailer[3:6])
            if sum(raw[:-7]) % 256 != want:
                raise FixFormatError("CheckSum mismatch", length - 4)
            out.append(raw)

    def _frame_length(self) -> int | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        if buf[:2] != b"8=":
            raise FixFormatError("message must start with 8=", 0)
        first = buf.find(SOH)
        if first < 0:
            return None
        if buf[first + 1 : first + 3] != b"9=":
            if len(buf) < first + 3:
                return None
            raise FixFormatError("second field must be BodyLength (9)", first + 1)
        second = buf.find(SOH, first + 3)
        if second < 0:
            return None
        digits = bytes(buf[first + 3 : second])
        if not digits.isdigit():
            raise FixFormatError("bad BodyLength", first + 3)
        total = second + 1 + int(digits) + 7
        return total if len(buf) >= total else None
