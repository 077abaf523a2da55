"""How close one image (or batch) is to another: the one PSNR of export checks, reports and benchmarks."""
from __future__ import annotations

import math

import numpy as np


def psnr(output: np.ndarray, reference: np.ndarray, peak_to_peak: float = 2.0, max_db: float = math.inf) -> float:
    """Peak signal-to-noise ratio in dB of `output` against `reference`, capped at `max_db` (identical
    arrays give `max_db`). The default peak-to-peak 2 fits the models' [-1, 1] range, and gives the
    same number as PSNR on the images scaled to [0, 1]."""
    mse = float(np.mean((np.asarray(output, np.float64) - np.asarray(reference, np.float64)) ** 2))
    return max_db if mse == 0 else min(max_db, 10 * math.log10(peak_to_peak**2 / mse))
