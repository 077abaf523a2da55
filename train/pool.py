"""Pools of past steps' pictures: the image history pool (Shrivastava et al.), so that discriminators
also see older generated images, and the pixel pool, a bag of real colours from many recent pictures."""
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


class PixelPool:
    """The last `size` pixels taken from real pictures, `per_picture` at random places of each picture
    added: a domain's colours over many recent pictures, not one crop's.

    A pixel is kept as a 1x1 float32 image, so the state has the image pool's format. The pool has
    its own random generator, so its draws and contents resume exactly.
    """

    def __init__(self, size: int, per_picture: int, seed: int = 0):
        if size < 1 or per_picture < 1:
            raise ValueError(f"a pixel pool holds at least one pixel, got size {size}, per_picture {per_picture}")
        self.size, self.per_picture = size, per_picture
        self.pixels = torch.empty(0)  # (n, channels), newest last
        self.rng = torch.Generator().manual_seed(seed)

    def add(self, images: torch.Tensor) -> torch.Tensor:
        """Take pixels of a batch (N, C, H, W) in, dropping the oldest beyond `size`; returns the pool's pixels."""
        n, c, h, w = images.shape
        places = torch.randint(h * w, (n, 1, self.per_picture), generator=self.rng).to(images.device)
        new = images.detach().flatten(2).gather(2, places.expand(n, c, -1)).transpose(1, 2).reshape(-1, c)
        kept = self.pixels.to(new.device) if self.pixels.numel() else new[:0]
        self.pixels = torch.cat([kept, new.float()])[-self.size:]
        return self.pixels

    def sample(self, count: int) -> torch.Tensor:
        """`count` of the pool's pixels drawn at random (with replacement); the whole pool while it holds
        no more than `count`, which draws nothing."""
        if len(self.pixels) <= count:
            return self.pixels
        return self.pixels[torch.randint(len(self.pixels), (count,), generator=self.rng).to(self.pixels.device)]

    def state_dict(self) -> dict[str, Any]:
        stored = self.pixels.cpu()[:, :, None, None] if self.pixels.numel() else torch.empty(0)
        return {"size": self.size, "images": stored, "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])
        self.pixels = state["images"].flatten(1) if state["images"].numel() else torch.empty(0)
        self.rng.set_state(state["rng"])
