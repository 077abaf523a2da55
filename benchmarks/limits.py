"""The machine's limit: matrix-multiply throughput in fp32 and bf16, the yardstick for every other figure.

The matrix side grows until one multiply takes long enough to time well (or reaches MAX_SIDE), so a
precision the CPU only emulates (bf16 without AVX512-BF16/AMX: well under 1 GFLOP/s) stays quick.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .timing import median_seconds

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
MIN_SIDE, MAX_SIDE = 128, 2048
MIN_CALL_S = 0.05  # a multiply shorter than this is too short to time; double the side


@dataclass(frozen=True)
class MatmulLimit:
    precision: str
    side: int  # n of the n x n by n x n multiply timed
    gflops: float


def matmul_limit(precision: str, repeats: int = 5, max_side: int = MAX_SIDE) -> MatmulLimit:
    """GFLOP/s (2 n^3 flops per multiply) of the largest square matmul up to `max_side`
    that fits the time budget, median of `repeats`."""
    dtype = DTYPES[precision]
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        side = MIN_SIDE
        while True:
            a = torch.randn(side, side, generator=generator).to(dtype)
            b = torch.randn(side, side, generator=generator).to(dtype)
            torch.mm(a, b)  # the first call of a size also pays for setting it up
            start = time.perf_counter()
            torch.mm(a, b)
            if side >= max_side or time.perf_counter() - start >= MIN_CALL_S:
                break
            side *= 2
        seconds = median_seconds(lambda: torch.mm(a, b), repeats=repeats, warmup=1)
    return MatmulLimit(precision, side, 2 * side**3 / seconds / 1e9)


def matmul_limits(repeats: int = 5, max_side: int = MAX_SIDE) -> dict[str, MatmulLimit]:
    """fp32 and bf16 limits, measured one after the other in this process."""
    return {name: matmul_limit(name, repeats, max_side) for name in DTYPES}
