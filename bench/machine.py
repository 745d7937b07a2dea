"""What the benchmarks ran on, for their header line: figures are only comparable on the same CPU."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["describe"]


def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """E.g. ``AMD EPYC, 2 CPUs, x86_64, Python 3.11.7``."""
    return f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}"
