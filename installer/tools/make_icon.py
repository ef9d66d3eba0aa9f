"""Draws X2 Studio's icon (PNG 256², Windows .ico, macOS .icns) with Pillow; run once, the results are committed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[2] / "resources" / "icons"


def draw(size: int = 1024) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size] / size
    top, bottom = np.array([52, 120, 230]), np.array([120, 52, 180])
    t = (0.6 * y + 0.4 * x)[..., None]
    rgb = (top * (1 - t) + bottom * t).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB").convert("RGBA")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, size - 1, size - 1], radius=size // 5, fill=255)
    img.putalpha(mask)
    d = ImageDraw.Draw(img)
    # a face's outline (left) and a note (right): the two halves of the studio
    w = size // 32
    d.ellipse([size * 0.14, size * 0.2, size * 0.5, size * 0.72], outline=(255, 255, 255, 235), width=w)
    d.ellipse([size * 0.23, size * 0.38, size * 0.28, size * 0.43], fill=(255, 255, 255, 235))
    d.ellipse([size * 0.36, size * 0.38, size * 0.41, size * 0.43], fill=(255, 255, 255, 235))
    d.arc([size * 0.24, size * 0.44, size * 0.40, size * 0.62], 20, 160, fill=(255, 255, 255, 235), width=w)
    d.ellipse([size * 0.58, size * 0.56, size * 0.74, size * 0.68], fill=(255, 255, 255, 235))
    d.rectangle([size * 0.71, size * 0.2, size * 0.74, size * 0.62], fill=(255, 255, 255, 235))
    d.polygon([(size * 0.74, size * 0.2), (size * 0.86, size * 0.3), (size * 0.74, size * 0.34)], fill=(255, 255, 255, 235))
    font = None
    for f in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",):
        if Path(f).is_file():
            font = ImageFont.truetype(f, size // 6)
    d.text((size * 0.5, size * 0.86), "X2", fill=(255, 255, 255, 255), anchor="mm", font=font)
    return img


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw()
    big.resize((256, 256), Image.LANCZOS).save(OUT / "x2studio.png", optimize=True)
    big.save(OUT / "x2studio.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.resize((512, 512), Image.LANCZOS).save(OUT / "x2studio.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
