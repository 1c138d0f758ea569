"""The typed stub says exactly what the compiled module exports, with the runtime's
signatures.

mypy's stubtest imports ems._core and compares it with src/ems/_core.pyi both ways: every
name, class member and property in one must be in the other, and every function and
method must have the runtime's parameters (names, order, kinds, defaults; pyo3 gives each
a text signature). It cannot see attributes set on an exception after it is made, so the
exceptions' `offset` is checked here by raising them.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ems
from ems import _core

STUB = Path(ems.__file__).parent / "_core.pyi"


def stub_class_attributes(name: str) -> set[str]:
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return {
                n.target.id
                for n in node.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
            }
    raise AssertionError(f"{name} is not in the stub")


def test_stub_matches_every_runtime_name_and_signature(tmp_path: Path) -> None:
    # From an empty directory, so no project config or cache changes what is checked.
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--concise", "ems._core"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def raised(call: object) -> BaseException:
    assert callable(call)
    with pytest.raises(ValueError) as info:
        call()
    return info.value


@pytest.mark.parametrize(
    ("error", "call"),
    [
        # A Binance trade whose price is off the 0.01 tick: the price's byte is named.
        (
            _core.OffGridError,
            lambda: _core.TradeScanner("0.01", "1").binance_trade(
                b'{"e":"trade","E":1,"s":"X","t":1,"p":"0.001","q":"1","T":1,"m":true}'
            ),
        ),
        (_core.DecodeError, lambda: _core.TradeScanner("0.01", "1").binance_trade(b'{"e":')),
        (_core.DecodeError, lambda: _core.fix_decode(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")),
        (_core.DecodeError, lambda: _core.Grid("0.01").units("1.x")),
    ],
)
def test_exception_attributes_are_the_stubs(error: type[BaseException], call: object) -> None:
    exc = raised(call)
    assert type(exc) is error
    assert set(vars(exc)) == stub_class_attributes(error.__name__)
    assert isinstance(exc.offset, int)  # type: ignore[attr-defined]


def test_off_grid_python_value_has_no_offset() -> None:
    # Documented in the stub: no bytes were read, so there is no position to give.
    exc = raised(lambda: _core.Grid("0.01").units("0.001"))
    assert type(exc) is _core.OffGridError
    assert not hasattr(exc, "offset")
