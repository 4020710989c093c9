"""Hostile fixtures that must be refused from what they declare, before anything is allocated:

- hostile_huge_image.h5: a 2 KB HDF5 file whose gzip-chunked, never-written 'images' dataset
  declares one 18,500 x 18,500 RGB image (342 megapixels), above the 100-megapixel budget;
- hostile_ratio.pth: a 64 KB zip whose one deflated entry inflates to 64 MiB of zeros (about
  1000:1, above the 20:1 allowed for entries over 16 MiB).

Run from this folder: python3 make_hostile_fixtures.py (needs h5py and numpy)."""
import zipfile

import h5py
import numpy as np

with h5py.File("hostile_huge_image.h5", "w") as f:
    f.create_dataset("images", shape=(1, 18500, 18500, 3), dtype="uint8", chunks=(1, 256, 256, 3), compression="gzip")
    f.create_dataset("labels", data=np.zeros(1, dtype="int64"))

with zipfile.ZipFile("hostile_ratio.pth", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("archive/data/0", bytes(64 << 20))
