"""Writes hostile_huge_image.h5: a 2 KB HDF5 file whose gzip-chunked, never-written 'images'
dataset declares one 18,500 x 18,500 RGB image (342 megapixels, about 1 GB as uint8), above the
100-megapixel decoding budget. Readers must refuse it from the declared shape, before allocating.

Run from this folder: python3 make_hostile_h5.py (needs h5py and numpy)."""
import h5py
import numpy as np

with h5py.File("hostile_huge_image.h5", "w") as f:
    f.create_dataset("images", shape=(1, 18500, 18500, 3), dtype="uint8", chunks=(1, 256, 256, 3), compression="gzip")
    f.create_dataset("labels", data=np.zeros(1, dtype="int64"))
