"""Write a short demo video of held-out built-in (domain X) pictures for `make demo` to translate."""
import sys
from pathlib import Path

import cv2
import numpy as np

from cgan.train.known_answer import HELDOUT_X, picture

SIZE, PICTURES, FRAMES_EACH, FPS = 128, 12, 6, 12


def main(out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (SIZE, SIZE))
    try:
        for i in range(PICTURES):
            rgb = ((picture(0, HELDOUT_X, i, SIZE).permute(1, 2, 0).numpy() + 1) * 127.5).round()
            frame = cv2.cvtColor(rgb.clip(0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
            for _ in range(FRAMES_EACH):
                writer.write(frame)
    finally:
        writer.release()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
