"""The image history pool (Shrivastava et al.): discriminators also see older generated images."""
from __future__ import annotations

from typing import Any

import torch


class ImagePool:
    """Holds up to `size` generated images; `size` 0 passes images straight through.

    While the pool fills, every image is stored and returned. Once full, each image has a 50%
    chance to be stored in place of a random stored one, the stored one being returned instead.
    Stored images are kept in float32. The pool has its own random generator, so its choices
    and contents resume exactly.
    """

    def __init__(self, size: int, seed: int = 0):
        if size < 0:
            raise ValueError(f"pool size must not be negative, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape, each image fresh or from history (detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.to(torch.float32, copy=True))
                out.append(image)
            elif torch.rand((), generator=self.rng).item() < 0.5:
                i = int(torch.randint(len(self.images), (), generator=self.rng))
                out.append(self.images[i].to(image.device, image.dtype))
                self.images[i] = image.to(torch.float32, copy=True)
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        stored = torch.stack(self.images).cpu() if self.images else torch.empty(0)
        return {"size": self.size, "images": stored, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        self.images = list(state["images"].unbind(0)) if state["images"].numel() else []
        self.rng.set_state(state["rng"])
