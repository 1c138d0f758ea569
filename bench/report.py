"""Shared by the benchmark scripts: results.json merging and RESULTS.md blocks."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """Date, CPU, core count and Python, for every published number."""
    return (
        f"{datetime.date.today()}, {cpu_model()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, ems._core release build"
    )


def merge_json(results: dict[str, Any]) -> None:
    path = HERE / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def write_block(name: str, markdown: str) -> None:
    """Replaces (or appends) this benchmark's block in RESULTS.md."""
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    command = "python " + " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    block = f"{start}\n{markdown.rstrip()}\n\n{machine()}. Command: `{command}`.\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
