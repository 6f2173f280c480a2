"""Reference frame decodes for make xcheck (TestXCheckFrames in ./datasets).

frames.py OUTDIR writes test images and what PIL makes of them, the way the reference loaders read a
frame (Image.open(path).convert('RGB'), then Resize((224, 224)) = .resize((224, 224), BILINEAR)):

  NAME.jpg / NAME.png    the test image (PIL's JPEG encoder: libjpeg-turbo, quality 75 or 95,
                         subsampling 4:2:0 (PIL's default), 4:2:2, 4:4:4, or a greyscale file)
  NAME.npy               PIL's full-size decode, uint8 [H, W, 3]
  NAME_224.npy           PIL's decode resized to 224 x 224 bilinear, uint8 [224, 224, 3] (a few files)
  cases.tsv              one line per image: name file kind quality width height has_224

Content: smooth colour gradients, sharp saturated edges (boxes, a disk, a diagonal) and noise, from
a fixed numpy seed, so the files are reproducible with the pinned Pillow and numpy.
"""
import os
import sys

import numpy as np
import PIL
from PIL import Image
from PIL import JpegImagePlugin

SUBSAMPLING = {"420": 2, "422": 1, "444": 0}

# (kind, quality, width, height, with the 224 resize)
CASES = [
    ("420", 75, 16, 16, False),
    ("420", 95, 16, 16, False),
    ("420", 75, 28, 28, True),   # MNIST-like, upscaled 8x
    ("420", 95, 28, 28, False),
    ("420", 75, 37, 23, False),  # odd sizes
    ("420", 95, 37, 23, True),
    ("420", 75, 160, 120, False),
    ("420", 95, 160, 120, False),
    ("420", 75, 320, 240, True),  # downscaled
    ("422", 75, 37, 23, False),
    ("422", 95, 160, 120, False),
    ("444", 75, 37, 23, False),
    ("444", 95, 37, 23, False),
    ("444", 75, 160, 120, False),
    ("444", 95, 160, 120, False),
    ("gray", 75, 28, 28, False),
    ("gray", 95, 28, 28, False),
    ("gray", 75, 160, 120, False),
    ("gray", 95, 160, 120, False),
    ("png", 0, 37, 23, True),    # the resize alone
]


def content(rng, w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = x / max(w - 1, 1), y / max(h - 1, 1)
    img = np.stack([
        255 * u,
        255 * v,
        127.5 + 127.5 * np.sin(2 * np.pi * (u + 0.5 * v)),
    ], axis=-1)
    # sharp saturated edges: a red box, a blue disk, a green diagonal band, a yellow bar
    img[(x >= 0.15 * w) & (x < 0.45 * w) & (y >= 0.2 * h) & (y < 0.5 * h)] = (230, 20, 30)
    img[(x - 0.68 * w) ** 2 + (y - 0.62 * h) ** 2 < (0.2 * min(w, h)) ** 2] = (20, 40, 220)
    img[np.abs((x / w) - (y / h)) < 0.06] = (30, 210, 40)
    img[(y >= 0.8 * h) & (y < 0.88 * h) & (x < 0.6 * w)] = (250, 230, 10)
    img += rng.normal(0, 10, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(13)
    lines = []
    for kind, q, w, h, with224 in CASES:
        pix = content(rng, w, h)
        img = Image.fromarray(pix, "RGB")
        if kind == "png":
            name = f"png_{w}x{h}"
            file = name + ".png"
            img.save(os.path.join(out, file))
        else:
            name = f"{kind}_q{q}_{w}x{h}"
            file = name + ".jpg"
            path = os.path.join(out, file)
            if kind == "gray":
                img.convert("L").save(path, quality=q)
            else:
                img.save(path, quality=q, subsampling=SUBSAMPLING[kind])
                got = JpegImagePlugin.get_sampling(Image.open(path))
                assert got == SUBSAMPLING[kind], (path, got)
        ref = Image.open(os.path.join(out, file)).convert("RGB")
        np.save(os.path.join(out, name + ".npy"), np.asarray(ref, dtype=np.uint8))
        if with224:
            r224 = ref.resize((224, 224), Image.BILINEAR)
            np.save(os.path.join(out, name + "_224.npy"), np.asarray(r224, dtype=np.uint8))
        lines.append(f"{name}\t{file}\t{kind}\t{q}\t{w}\t{h}\t{int(with224)}")
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        f.write(f"# Pillow {PIL.__version__}, numpy {np.__version__}\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: frames.py OUTDIR")
    main(sys.argv[1])
