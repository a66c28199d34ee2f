"""The C heap keeps the few-MiB blocks a forward frees (engine/heap.py)."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from engine.heap import keep_freed_memory

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                           reason="glibc's thresholds only")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


@glibc
def test_a_6_mib_block_comes_from_the_heap_not_mmap() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype, libc.malloc.restype = _MallInfo2, ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    assert keep_freed_memory()
    mapped = libc.mallinfo2().hblkhd
    block = libc.malloc(6 * 2**20)                     # a prefill chunk's gate|up product
    try:
        assert libc.mallinfo2().hblkhd == mapped         # glibc's default would mmap it
    finally:
        libc.free(block)


@glibc
def test_the_administrators_setting_wins() -> None:
    code = "from engine.heap import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1048576"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
