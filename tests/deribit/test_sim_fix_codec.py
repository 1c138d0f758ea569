"""The simulator's own FIX reader takes every length/data pair the core writes."""

from __future__ import annotations

import pytest

from ems.sim.deribit import codec


@pytest.mark.parametrize(("length", "data"), list(codec._DATA_LENGTH.items()))
def test_a_data_field_with_soh_inside_reads_back_whole(length: int, data: int) -> None:
    value = "ab\x01cd"
    raw = codec.encode([(35, "0"), (49, "A"), (56, "B"), (length, str(len(value))), (data, value)])
    message = codec.decode(raw)
    assert (data, value) in message.fields
