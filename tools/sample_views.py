#!/usr/bin/env python3
"""Writes an HDF5 file of views of the ImageNet sample photos, for auditing an ImageNet model where
no ImageNet folder is at hand (`modelfool audit manipulation --h5 FILE`, tools/audit_eval_lite0.sh).

Each photo of datasets/imagenet-sample gives VIEWS views of 224 x 224: the first is the standard
evaluation crop (shorter side resized to 256, centre crop 224); the others are random crops of 25-100%
of the photo's area with aspect ratio 3/4..4/3 (log-uniform), resized to 224 x 224 (bicubic), mirrored
with probability 1/2. Seeded, so the same arguments give the same file. The layout is the one
`ImageNetDataset.loadHDF5` reads: `images` uint8 N x 224 x 224 x 3 (RGB), `labels` int64 (the ImageNet
class index in the file name), root attribute `class_names` (JSON list of the 1,000 names).

  python3 tools/sample_views.py --views 7 --seed 0 --out runs/audit-lite0/views.h5

Needs Pillow and h5py (`pip install pillow h5py`); the views are not a held-out ImageNet sample: they
are crops of the same 20 photos (docs/RESULTS.md says what that means for the numbers made with them).
"""
import argparse
import json
import math
import os
import random
import re
import sys


def standard_crop(image, Image):
    w, h = image.size
    scale = 256 / min(w, h)
    image = image.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    w, h = image.size
    left, top = (w - 224) // 2, (h - 224) // 2
    return image.crop((left, top, left + 224, top + 224))


def random_crop(image, rng, Image):
    w, h = image.size
    for _ in range(100):
        area = rng.uniform(0.25, 1.0) * w * h
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
            view = image.crop((left, top, left + cw, top + ch)).resize((224, 224), Image.BICUBIC)
            return view.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else view
    return standard_crop(image, Image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="datasets/imagenet-sample", help="folder of imagenet_NN_LABEL.jpg photos")
    parser.add_argument("--views", type=int, default=7, help="views per photo (the first is the standard crop)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import h5py
        import numpy
        from PIL import Image
    except ImportError as e:
        sys.exit(f"Error: {e.name} is missing (pip install pillow h5py)")
    if args.views < 1:
        sys.exit(f"Error: --views must be at least 1, got {args.views}")
    names = sorted(f for f in os.listdir(args.sample) if re.fullmatch(r"imagenet_\d+_\d+\.jpg", f))
    if not names:
        sys.exit(f"Error: no imagenet_NN_LABEL.jpg photos in {args.sample}")
    with open(os.path.join(args.sample, "imagenet1k_clean_names.json")) as f:
        class_names = json.load(f)
    rng = random.Random(args.seed)
    images, labels = [], []
    for name in names:
        photo = Image.open(os.path.join(args.sample, name)).convert("RGB")
        label = int(name.rsplit("_", 1)[1].split(".")[0])
        for v in range(args.views):
            images.append(numpy.asarray(standard_crop(photo, Image) if v == 0 else random_crop(photo, rng, Image), dtype=numpy.uint8))
            labels.append(label)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    partial = args.out + ".partial"
    with h5py.File(partial, "w") as f:
        f.create_dataset("images", data=numpy.stack(images))
        f.create_dataset("labels", data=numpy.array(labels, dtype=numpy.int64))
        f.attrs["class_names"] = json.dumps(class_names)
    os.replace(partial, args.out)
    print(f"wrote {len(images)} views of {len(names)} photos ({len(set(labels))} classes) to {args.out}")


if __name__ == "__main__":
    main()
