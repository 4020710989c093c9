/// Data: HDF5 I/O, datasets and batching (see the files of this folder).
import ModelFool
