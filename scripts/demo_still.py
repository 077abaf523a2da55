"""Write one still of `make demo`'s side-by-side video: a few of its pictures, input | output, stacked."""
import sys
from pathlib import Path

import cv2
import numpy as np

from cgan.infer.files import atomic_write

FRAMES = (3, 15, 27, 39)  # the middle frame of pictures 0, 2, 4 and 6 (demo_video.py shows each for 6 frames)


def main(video: Path, out: Path) -> None:
    capture = cv2.VideoCapture(str(video))
    rows = []
    try:
        for index in FRAMES:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            if not ok:
                raise SystemExit(f"{video}: cannot read frame {index}")
            rows.append(frame)
    finally:
        capture.release()
    with atomic_write(out) as f:
        f.write(cv2.imencode(".png", np.vstack(rows))[1].tobytes())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
