"""Test folders of real photographs: crops of different sizes of the two photographs
scikit-learn ships (`china.jpg`, `flower.jpg`, 427x640), re-encoded as JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: (height, width) of the crops, cycled: landscape, portrait, square, 3:2.
SIZES = ((180, 320), (320, 180), (240, 240), (200, 300))


def photographs() -> list[np.ndarray]:
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images)


def photo_folder(root: Path, per_class: int, sizes=SIZES, quality: int = 90) -> Path:
    """One class per photograph, `per_class` crops of each at `sizes` (cycled) and at
    shifting offsets, JPEG `quality`."""
    for label, photo in enumerate(photographs()):
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = sizes[i % len(sizes)]
            top = (17 * i) % (photo.shape[0] - h + 1)
            left = (29 * i) % (photo.shape[1] - w + 1)
            Image.fromarray(photo[top:top + h, left:left + w]).save(folder / f"{i:03d}.jpg", quality=quality)
    return root


def coordinate_image(height: int, width: int) -> np.ndarray:
    """An RGB image whose red channel is the column (0 at the left edge, 255 at the
    right) and green the row: a crop resized to any size still tells which part of the
    original it shows, and so its aspect ratio in the original's pixels."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return np.stack([x, y, np.full_like(x, 128)], -1).round().astype(np.uint8)
