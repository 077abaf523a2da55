"""Parametric colour grades, written in torch so that they are differentiable in their parameters:
the looks of the learning benchmark's `colour` family, and the form its unpaired oracle fits.

A grade works on RGB in [0, 1] pixel by pixel (tensors of shape (..., 3)) and clamps its result to
[0, 1]. Each kind (GRADE_KINDS, name -> kind) has named parameters, their identity values (the
grade then does nothing), and a draw of values that gives a visible but plausible grade. A `Grade`
is a composition of kinds with concrete parameters, applied in GRADE_KINDS' order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

Params = dict[str, torch.Tensor]
_LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                           dtype=torch.float64)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    return rgb @ rgb.new_tensor(_LUMA)


def tint(hue: float) -> np.ndarray:
    """A unit-amplitude colour direction of zero mean (no change of brightness), at `hue` radians."""
    return np.cos(hue - np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3])) * (2 / 3)


def _mix(p: Params, rgb: torch.Tensor) -> torch.Tensor:
    return rgb @ p["matrix"].T


def _tone(p: Params, rgb: torch.Tensor) -> torch.Tensor:
    """Per-channel gamma, a cubic S-curve (monotone for contrast in [-2, 1]), then lift and gain."""
    y = rgb.clamp(1e-4, 1) ** torch.exp(p["log_gamma"])
    y = y + p["contrast"] * y * (1 - y) * (2 * y - 1)
    return p["lift"] + (p["gain"] - p["lift"]) * y


def _hue_sat(p: Params, rgb: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma plane of YIQ by `angle` and scale it by exp(log_sat)."""
    to_yiq = _RGB_TO_YIQ.to(rgb)
    c, s, k = torch.cos(p["angle"]), torch.sin(p["angle"]), torch.exp(p["log_sat"])
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    chroma = torch.stack([torch.cat([one, zero, zero]), torch.cat([zero, k * c, -k * s]),
                          torch.cat([zero, k * s, k * c])])
    return rgb @ (torch.linalg.inv(to_yiq) @ chroma @ to_yiq).T


def _white_balance(p: Params, rgb: torch.Tensor) -> torch.Tensor:
    return rgb * torch.exp(p["log_gains"])


def _split_tone(p: Params, rgb: torch.Tensor) -> torch.Tensor:
    """Shadows shifted towards one tint and highlights towards another, weighted by (1 - luma)² and luma²."""
    y = luma(rgb)[..., None].clamp(0, 1)
    return rgb + (1 - y) ** 2 * p["shadows"] + y ** 2 * p["highlights"]


def _draw_mix(rng: np.random.Generator) -> dict:
    return {"matrix": np.eye(3) + rng.uniform(-0.2, 0.2, (3, 3))}


def _draw_tone(rng: np.random.Generator) -> dict:
    return {"log_gamma": rng.uniform(-0.4, 0.4) + rng.uniform(-0.1, 0.1, 3), "contrast": [rng.uniform(-0.5, 0.9)],
            "lift": [rng.uniform(0.0, 0.1)], "gain": [rng.uniform(0.85, 1.0)]}


def _draw_hue_sat(rng: np.random.Generator) -> dict:
    return {"angle": [rng.uniform(-0.7, 0.7)], "log_sat": [rng.uniform(-0.4, 0.45)]}


def _draw_white_balance(rng: np.random.Generator) -> dict:
    return {"log_gains": rng.uniform(-0.2, 0.2, 3)}


def _draw_split_tone(rng: np.random.Generator) -> dict:
    return {"shadows": rng.uniform(0.04, 0.12) * tint(rng.uniform(0, 2 * math.pi)),
            "highlights": rng.uniform(0.04, 0.12) * tint(rng.uniform(0, 2 * math.pi))}


@dataclass(frozen=True)
class GradeKind:
    apply: Callable[[Params, torch.Tensor], torch.Tensor]  # parameters, rgb (..., 3) -> rgb, before clamping
    identity: dict[str, list]  # parameter values that leave every colour as it is
    draw: Callable[[np.random.Generator], dict]  # parameter values of one plausible grade


GRADE_KINDS: dict[str, GradeKind] = {
    "white_balance": GradeKind(_white_balance, {"log_gains": [0.0] * 3}, _draw_white_balance),
    "mix": GradeKind(_mix, {"matrix": np.eye(3).tolist()}, _draw_mix),
    "hue_sat": GradeKind(_hue_sat, {"angle": [0.0], "log_sat": [0.0]}, _draw_hue_sat),
    "tone": GradeKind(_tone, {"log_gamma": [0.0] * 3, "contrast": [0.0], "lift": [0.0], "gain": [1.0]}, _draw_tone),
    "split_tone": GradeKind(_split_tone, {"shadows": [0.0] * 3, "highlights": [0.0] * 3}, _draw_split_tone),
}


@dataclass(frozen=True)
class Grade:
    """A composition of grade kinds (in GRADE_KINDS' order) with their parameter values."""
    params: dict[str, dict[str, list]]  # kind -> parameter name -> values (JSON-ready)

    @classmethod
    def draw(cls, kinds: list[str], rng: np.random.Generator) -> "Grade":
        ordered = [k for k in GRADE_KINDS if k in kinds]
        return cls({k: {n: np.asarray(v, float).tolist() for n, v in GRADE_KINDS[k].draw(rng).items()}
                    for k in ordered})

    def identity(self) -> "Grade":
        """The same composition doing nothing: where the oracle's fit starts."""
        return Grade({k: GRADE_KINDS[k].identity for k in self.params})

    def tensors(self, requires_grad: bool = False) -> dict[str, Params]:
        return {k: {n: torch.tensor(v, dtype=torch.float32, requires_grad=requires_grad) for n, v in p.items()}
                for k, p in self.params.items()}

    @staticmethod
    def apply_tensors(params: dict[str, Params], rgb: torch.Tensor) -> torch.Tensor:
        """rgb (..., 3) in [0, 1] through the kinds of `params` in turn, clamped after each."""
        for kind, values in params.items():
            rgb = GRADE_KINDS[kind].apply(values, rgb).clamp(0, 1)
        return rgb

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The grade on a numpy array (..., 3) in [0, 1], float32."""
        with torch.no_grad():
            return self.apply_tensors(self.tensors(), torch.from_numpy(np.asarray(rgb, np.float32))).numpy()

    def describe(self) -> str:
        def values(v: list) -> str:
            return " ".join(f"{x:.2f}" for x in np.ravel(v))
        return "; ".join(f"{kind} ({', '.join(f'{n} {values(v)}' for n, v in p.items())})"
                         for kind, p in self.params.items())
