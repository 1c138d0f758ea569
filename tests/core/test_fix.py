"""FIX 4.4 codec: body length, checksum, field access, groups and malformed input."""

import pytest

from ems._core import BUY, SELL, DecodeError, FixSession, fix_decode, fix_frame_length

TIME = "20260101-12:00:00.000"


def checksum(message: bytes) -> int:
    return sum(message[: message.rindex(b"10=")]) % 256


def test_new_order_single_has_exact_length_and_checksum() -> None:
    session = FixSession("CLIENT", "DERIBITSERVER")
    msg = session.new_order_single(
        2, "ord-1", "BTC-PERPETUAL", BUY, "10", "50000.5", time_in_force="1", sending_time=TIME
    )
    body = (
        b"35=D\x0149=CLIENT\x0156=DERIBITSERVER\x0134=2\x0152=" + TIME.encode() + b"\x01"
        b"11=ord-1\x0155=BTC-PERPETUAL\x0154=1\x0138=10\x0140=2\x0144=50000.5\x0159=1\x01"
    )
    head = b"8=FIX.4.4\x019=%d\x01" % len(body)
    assert msg == head + body + b"10=%03d\x01" % checksum(msg)


def test_decoder_reads_what_the_encoder_wrote() -> None:
    session = FixSession("A", "B")
    raw = session.encode(
        "8",
        7,
        [(37, "ord-9"), (11, b"srv-1"), (41, "mine"), (39, "1"), (54, 2), (151, "5"), (14, -3)],
        sending_time=TIME,
    )
    msg = fix_decode(raw)
    assert msg.msg_type == "8"
    assert msg.seq_num == 7
    assert msg.get(41) == b"mine"
    assert msg.get_str(37) == "ord-9"
    assert msg.get_int(14) == -3
    assert msg.get(9999) is None
    assert 151 in msg
    assert msg.length == len(raw)
    assert msg.get_many([39, 54, 1]) == [b"1", b"2", None]
    body = raw[raw.index(b"\x0135=") + 1 : raw.rindex(b"10=")]
    assert msg.fields()[:3] == [(8, b"FIX.4.4"), (9, str(len(body)).encode()), (35, b"8")]


def test_cancel_request_side_and_default_time() -> None:
    msg = fix_decode(FixSession("A", "B").order_cancel_request(3, "123", "BTC-PERPETUAL"))
    assert msg.msg_type == "F"
    sending_time = msg.get_str(52)
    assert sending_time is not None and len(sending_time) == 21
    with pytest.raises(ValueError):
        FixSession("A", "B").new_order_single(1, "x", "y", 0, "1")
    assert fix_decode(FixSession("A", "B").new_order_single(1, "x", "y", SELL, "1")).get(54) == b"2"


def test_repeating_group_instances() -> None:
    raw = FixSession("A", "B").encode(
        "y",
        1,
        [
            (320, "r"),
            (146, "2"),
            (55, "BTC-PERPETUAL"),
            (167, "FUT"),
            (55, "BTC-28MAR26"),
            (167, "FUT"),
            (58, "x"),
        ],
        sending_time=TIME,
    )
    groups = fix_decode(raw).group(146, [55, 167])
    assert groups == [
        [(55, b"BTC-PERPETUAL"), (167, b"FUT")],
        [(55, b"BTC-28MAR26"), (167, b"FUT")],
    ]
    with pytest.raises(DecodeError):
        fix_decode(raw).group(146, [55])


def test_stream_framing() -> None:
    raw = FixSession("A", "B").encode("0", 1, [], sending_time=TIME)
    assert fix_frame_length(raw[:12]) is None
    assert fix_frame_length(raw + raw[:5]) == len(raw)
    assert fix_decode(raw + raw).length == len(raw)


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        (lambda m: m[:-2] + (b"0" if m[-2:-1] != b"0" else b"1") + b"\x01", "CheckSum"),
        (lambda m: m.replace(b"9=", b"9=9", 1), "incomplete"),
        (lambda m: b"X" + m[1:], "8="),
        (lambda m: m.replace(b"35=0", b"35=\x01", 1), ""),
        (lambda m: m[:-7], "incomplete"),
    ],
)
def test_malformed_messages_raise_decode_error_with_offset(mutate, what) -> None:  # type: ignore[no-untyped-def]
    good = FixSession("A", "B").encode("0", 1, [(112, "t")], sending_time=TIME)
    with pytest.raises(DecodeError) as info:
        fix_decode(mutate(good))
    assert what in str(info.value)
    assert isinstance(getattr(info.value, "offset", None), int)


def test_simplefix_reads_our_messages() -> None:
    simplefix = pytest.importorskip("simplefix")
    raw = FixSession("A", "B").new_order_single(5, "c1", "BTC-PERPETUAL", BUY, "10", "100.5")
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    msg = parser.get_message()
    assert msg is not None
    assert msg.get(44) == b"100.5"
    assert msg.get(10) == b"%03d" % checksum(raw)


def test_values_that_would_corrupt_the_framing_are_refused() -> None:
    session = FixSession("A", "B")
    with pytest.raises(ValueError):
        session.new_order_single(1, "bad\x01id", "BTC-PERPETUAL", BUY, "1")
    with pytest.raises(ValueError):
        session.encode("0", 1, [(112, "a\x01b")])
    with pytest.raises(ValueError):
        session.encode("0", 1, [(112, "")])
    # RawData (96) may hold SOH: its length is in RawDataLength (95).
    raw = session.encode("A", 1, [(95, "3"), (96, b"a\x01b")], sending_time=TIME)
    assert fix_decode(raw).get(96) == b"a\x01b"


# FIX 4.4 length/data pairs: (length tag, data tag).
DATA_PAIRS = [(90, 91), (93, 89), (95, 96), (212, 213), (354, 355), (621, 622)]


@pytest.mark.parametrize(("length_tag", "data_tag"), DATA_PAIRS)
def test_data_fields_round_trip_with_soh_inside(length_tag: int, data_tag: int) -> None:
    data = b"sig\x0110=000\x01=x"
    raw = FixSession("A", "B").encode(
        "A", 1, [(length_tag, len(data)), (data_tag, data), (58, "after")], sending_time=TIME
    )
    msg = fix_decode(raw)
    assert msg.length == len(raw)
    assert msg.fields()[-3:] == [
        (length_tag, str(len(data)).encode()),
        (data_tag, data),
        (58, b"after"),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        [(89, b"sig")],  # Signature without its SignatureLength
        [(95, 3), (89, b"sig")],  # a RawDataLength is not a SignatureLength
        [(93, 4), (89, b"sig")],  # the length differs from the data
        [(93, 3), (58, "x"), (89, b"sig")],  # the length is not right before
        [(93, -1)],
        [(93, "three")],
        [(0, "x")],
        [(1_000_000_000, "x")],
    ],
)
def test_encoder_refuses_what_its_decoder_would_refuse(
    fields: list[tuple[int, str | bytes | int]],
) -> None:
    with pytest.raises(ValueError):
        FixSession("A", "B").encode("A", 1, fields, sending_time=TIME)


def test_header_values_with_soh_are_refused() -> None:
    with pytest.raises(ValueError):
        FixSession("A\x01", "B")
    with pytest.raises(ValueError):
        FixSession("A", "B").encode("0\x01", 1, [])
    with pytest.raises(ValueError):
        FixSession("A", "B").encode("0", 1, [], sending_time="x\x01y")
