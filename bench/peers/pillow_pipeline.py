#!/usr/bin/env python3
"""Image input pipeline in Pillow + numpy: the peer of `modelfool bench pipeline`.

Per image: open and decode (`Image.open(path).convert("RGB")`), resize the shorter side to 256
with `Image.BICUBIC` (longer side truncated, as torchvision's `Resize(256)`), crop the centre
224x224 (origin `round((size - 224) / 2)`), and normalise to a float32 `3 x 224 x 224` array
`(pixel / 255 - mean) / std` with the ImageNet statistics (torchvision's `ToTensor()` +
`Normalize()`). With `--draft`, `Image.draft("RGB", (256, 256))` first lets libjpeg decode at a
reduced DCT scale (what torchvision does not do). The files are processed `--repeats` times per
pass on `--threads` threads (a thread pool; Pillow releases the GIL while decoding and resizing),
after one untimed warm-up pass; each of `--passes` passes is timed.

Output: one JSON line on stdout, {"images_per_second": median, "passes": [...], ...}. When
Pillow or numpy cannot be imported, a one-line reason goes to stderr and the exit status is 3.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import numpy as np
    import PIL
    from PIL import Image
except ImportError as error:  # the caller prints the reason and skips the peer
    print(f"Pillow or numpy missing ({error}); pip install pillow numpy", file=sys.stderr)
    sys.exit(3)

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def pipeline(path, side, crop, draft):
    with Image.open(path) as image:
        if draft:
            image.draft("RGB", (side, side))
        image = image.convert("RGB")
    width, height = image.size
    if width <= height:
        size = (side, int(side * height / width))
    else:
        size = (int(side * width / height), side)
    image = image.resize(size, Image.BICUBIC)
    left = int(round((size[0] - crop) / 2.0))
    top = int(round((size[1] - crop) / 2.0))
    image = image.crop((left, top, left + crop, top + crop))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return np.ascontiguousarray(((pixels - MEAN) / STD).transpose(2, 0, 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default="datasets/imagenet-sample")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--draft", action="store_true")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry; output is always JSON")
    args = parser.parse_args()
    names = sorted(n for n in os.listdir(args.folder) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    if not names:
        print(f"{args.folder}: no images", file=sys.stderr)
        sys.exit(2)
    files = [os.path.join(args.folder, n) for n in names]
    work = files * args.repeats

    def run(paths):
        if args.threads == 1:
            return [pipeline(p, 256, 224, args.draft)[0, 0, 0] for p in paths]
        with ThreadPoolExecutor(args.threads) as pool:
            return list(pool.map(lambda p: pipeline(p, 256, 224, args.draft)[0, 0, 0], paths))

    run(files)
    rates = []
    for _ in range(args.passes):
        start = time.perf_counter()
        run(work)
        rates.append(len(work) / (time.perf_counter() - start))
    print(json.dumps({
        "images_per_second": sorted(rates)[len(rates) // 2], "passes": rates, "images": len(work),
        "threads": args.threads, "draft": args.draft, "pillow": PIL.__version__, "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
