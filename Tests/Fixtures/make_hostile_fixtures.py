"""Hostile fixtures that must be refused from what they declare, before anything is allocated:

- hostile_huge_image.h5: a 2 KB HDF5 file whose gzip-chunked, never-written 'images' dataset
  declares one 18,500 x 18,500 RGB image (342 megapixels), above the 100-megapixel budget;
- hostile_ratio.pth: a 64 KB zip whose one deflated entry inflates to 64 MiB of zeros (about
  1000:1, above the 20:1 allowed for entries over 16 MiB);
- hostile_many_images.h5: a 14 KB HDF5 file whose never-written 'images' dataset declares 1,500
  RGB images of 224 x 224 (75 megapixels, under the 100-megapixel budget) that decode to
  1,128,960,000 bytes (uint8 pixels and float32 inputs), above the 1 GiB decoded-size budget;
- hostile_entry.pth: a zip of 146 bytes whose deflated entry declares 3,000,000,000 uncompressed
  bytes, above the 2 GiB limit of a deflated entry (refused before its other sizes are looked at).

Run from this folder: python3 make_hostile_fixtures.py (needs h5py and numpy)."""
import zipfile

import h5py
import numpy as np

with h5py.File("hostile_huge_image.h5", "w") as f:
    f.create_dataset("images", shape=(1, 18500, 18500, 3), dtype="uint8", chunks=(1, 256, 256, 3), compression="gzip")
    f.create_dataset("labels", data=np.zeros(1, dtype="int64"))

with zipfile.ZipFile("hostile_ratio.pth", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("archive/data/0", bytes(64 << 20))

with h5py.File("hostile_many_images.h5", "w") as f:
    f.create_dataset("images", shape=(1500, 224, 224, 3), dtype="uint8", chunks=(1, 224, 224, 3), compression="gzip")
    f.create_dataset("labels", data=np.zeros(1500, dtype="int64"))

# A small deflated entry whose uncompressed size, in the local header and the central directory,
# is rewritten to 3,000,000,000: refused from the declared size alone, before anything else.
with zipfile.ZipFile("hostile_entry.pth", "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("archive/data/0", bytes(4096))
data = bytearray(open("hostile_entry.pth", "rb").read())
local = data.index(b"PK\x03\x04")
central = data.index(b"PK\x01\x02")
data[local + 22:local + 26] = (3_000_000_000).to_bytes(4, "little")
data[central + 24:central + 28] = (3_000_000_000).to_bytes(4, "little")
open("hostile_entry.pth", "wb").write(bytes(data))
