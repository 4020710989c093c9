#!/usr/bin/env python3
"""Writes the PyTorch-format fixtures of TorchCheckpointTests and WeightImportTests, WITHOUT torch
(zip format and safetensors written here with zipfile/struct/json; the legacy format through
make_legacy_pth.py's emulation) and, where torch and safetensors are importable, the same tensors
written by the real torch.save and safetensors.torch.save_file (committed, so tests need no torch).

Tensors (all deterministic, no randomness from torch):
  tiny_cnn*      the zoo's `digits-cnn` with options channels=4,8,8 classes=3 (947 float32 values,
                 random.Random(7) uniform in [-0.5, 0.5) rounded to float32):
    tiny_cnn.pth            legacy torch.save emulation, plain state dict
    tiny_cnn.pt             zip emulation (stored, 64-byte aligned like torch), the state dict under
                            "state_dict" with every name prefixed "module." (DataParallel), plus "epoch"
    tiny_cnn_deflate.pt     the same archive with deflated entries (zipfile)
    tiny_cnn_zip64.pt       the same archive written with ZIP64 sizes, offsets and end records
    tiny_cnn.safetensors    safetensors with __metadata__
    tiny_cnn_torch.pt, tiny_cnn_torch_legacy.pth, tiny_cnn_torch.safetensors   real torch / safetensors
  dtypes*        dtype conversions and views (values asserted by TorchCheckpointTests):
    half float16 [2,3]; bfloat16 [4]; double float64 [3]; bn.num_batches_tracked int64 []; int32 [2];
    uint8 [3]; flag bool [2]; grid float32 [2,3]; grid_t float32 [3,2] = grid transposed (the same
    storage, strides (1, 3) in the pickle formats; contiguous in safetensors)
    dtypes.pt, dtypes.safetensors, dtypes_torch.pt, dtypes_torch.safetensors
  hostile_*      files that once crashed or could crash a reader; each must be a one-line error:
    hostile_stride.pth      legacy, size (3,) stride (2**62,): (size-1)*stride overflows int64
    hostile_size.pth        legacy, size (2**40,) stride (0,) over a 1-element storage
    hostile_numel.pt        zip, storage numel 2**61 float32 (byte count overflows)
    hostile_cycle.pt        zip, a state dict that contains itself
    hostile_nested.pt       zip (deflated), data.pkl = 100 KB of nested tuples (MARK x 50000, TUPLE x 50000)
    hostile_global.pt       zip, data.pkl calls os.system('echo pwned')

Usage: python3 Tests/Fixtures/make_torch_fixtures.py [output folder]
       (set PYTHONPATH to a folder with torch + safetensors for the *_torch fixtures)
"""

import collections
import io
import json
import os
import pickle
import random
import struct
import subprocess
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# Tensor specs (plain Python: name -> (dtype, shape, row-major values))


def f32(x):
  return struct.unpack("<f", struct.pack("<f", x))[0]


def tiny_cnn_spec():
  rng = random.Random(7)
  shapes = [("features.0.weight", [4, 1, 3, 3]), ("features.0.bias", [4]),
            ("features.3.weight", [8, 4, 3, 3]), ("features.3.bias", [8]),
            ("features.6.weight", [8, 8, 3, 3]), ("features.6.bias", [8]),
            ("classifier.weight", [3, 8]), ("classifier.bias", [3])]
  spec = collections.OrderedDict()
  for name, shape in shapes:
    n = 1
    for s in shape:
      n *= s
    spec[name] = ("float32", shape, [f32(rng.uniform(-0.5, 0.5)) for _ in range(n)])
  return spec


def dtypes_spec():
  spec = collections.OrderedDict()
  spec["half"] = ("float16", [2, 3], [0.5, -1.25, 2.0, 3.75, -0.125, 65504.0])
  spec["bfloat16"] = ("bfloat16", [4], [1.0, -2.5, 3.140625, 0.0009765625])
  spec["double"] = ("float64", [3], [0.1, -1e10, 1.0 / 3.0])
  spec["bn.num_batches_tracked"] = ("int64", [], [12345])
  spec["int32"] = ("int32", [2], [-7, 2147483647])
  spec["uint8"] = ("uint8", [3], [0, 128, 255])
  spec["flag"] = ("bool", [2], [True, False])
  spec["grid"] = ("float32", [2, 3], [0.5 * k - 1.0 for k in range(6)])
  # grid_t: the transpose of grid, sharing its storage in the pickle formats.
  return spec


GRID_T = [[-1.0, 0.5], [-0.5, 1.0], [0.0, 1.5]]  # grid [[-1, -.5, 0], [.5, 1, 1.5]] transposed

# dtype -> (struct format, torch storage class name, safetensors dtype)
DTYPES = {
    "float32": ("<f", "FloatStorage", "F32"), "float16": ("<e", "HalfStorage", "F16"),
    "bfloat16": (None, "BFloat16Storage", "BF16"), "float64": ("<d", "DoubleStorage", "F64"),
    "int64": ("<q", "LongStorage", "I64"), "int32": ("<i", "IntStorage", "I32"),
    "uint8": ("<B", "ByteStorage", "U8"), "bool": ("<?", "BoolStorage", "BOOL"),
}


def pack(dtype, values):
  fmt = DTYPES[dtype][0]
  if dtype == "bfloat16":  # the upper half of the float32 bits (values are exact in bfloat16)
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
  return b"".join(struct.pack(fmt, v) for v in values)


# ---------------------------------------------------------------------------------------------
# Stand-in torch symbols for pickling (never called), shared with the legacy emulation.

sys.path.insert(0, HERE)


def stand_ins():
  import make_legacy_pth as legacy  # registers the stand-in `torch`, `torch._utils` modules
  for _, cls, _ in DTYPES.values():
    if not hasattr(legacy.torch, cls):
      legacy.storage_class(cls, None)
  return legacy


def storage_type(legacy):
  """make_legacy_pth.Storage (which its legacy writer turns into persistent ids) with our dtypes."""

  class Storage(legacy.Storage):
    def __init__(self, cls, key, dtype, values):
      super().__init__(cls, key, values)
      self.dtype = dtype

    def raw(self):
      return pack(self.dtype, self.values)

  return Storage


Storage = None  # set by main() once the stand-in modules exist


def storages_and_tensors(legacy, spec, key_base, with_transpose=False):
  """OrderedDict name -> stand-in Tensor over fresh storages with keys key_base, key_base+1, ..."""
  state = collections.OrderedDict()
  by_name = {}
  for i, (name, (dtype, shape, values)) in enumerate(spec.items()):
    storage = Storage(getattr(legacy.torch, DTYPES[dtype][1]), str(key_base + i), dtype, values)
    by_name[name] = storage
    strides, acc = [], 1
    for s in reversed(shape):
      strides.insert(0, acc)
      acc *= s
    state[name] = legacy.Tensor(storage, 0, shape, strides)
  if with_transpose:
    state["grid_t"] = legacy.Tensor(by_name["grid"], 0, [3, 2], [1, 3])
  return state


# ---------------------------------------------------------------------------------------------
# Zip format (torch >= 1.6): NAME/data.pkl, NAME/byteorder, NAME/data/KEY, NAME/version


def zip_pickler(legacy):
  """The legacy pickler with the zip format's 5-field persistent id (no view metadata)."""

  class ZipPickler(legacy.LegacyPickler):
    def persistent_id(self, obj):
      pid = super().persistent_id(obj)
      return pid[:5] if pid else None

  return ZipPickler


ZipPickler = None  # set by main() once the stand-in modules exist


def zip_entries(obj, archive):
  out = io.BytesIO()
  storages = {}
  ZipPickler(out, storages).dump(obj)
  entries = [(archive + "/data.pkl", out.getvalue()), (archive + "/byteorder", b"little")]
  for key in sorted(storages, key=int):
    entries.append((archive + "/data/" + key, storages[key].raw()))
  entries.append((archive + "/version", b"3\n"))
  return entries


def write_zipfile(entries, deflate=False):
  """With Python's zipfile; stored entries get torch's 64-byte alignment (padding extra field)."""
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as zf:
    for name, data in entries:
      info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
      info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
      if not deflate:
        pad = (-(buf.tell() + 30 + len(name.encode()) + 4)) % 64
        info.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
      zf.writestr(info, data)
  data = buf.getvalue()
  if not deflate:  # check the alignment
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
      n, e = struct.unpack_from("<HH", data, info.header_offset + 26)
      assert (info.header_offset + 30 + n + e) % 64 == 0
  return data


def write_zip64(entries):
  """A hand-written archive with ZIP64 fields everywhere they can be: local and central sizes and
  offsets as 0xFFFFFFFF with ZIP64 extra fields, a ZIP64 end record and locator. Stored, aligned."""
  out = bytearray()
  central = bytearray()
  for name, data in entries:
    name_b = name.encode()
    offset = len(out)
    zip64_local = struct.pack("<HHQQ", 1, 16, len(data), len(data))
    pad = (-(offset + 30 + len(name_b) + len(zip64_local) + 4)) % 64
    extra = zip64_local + struct.pack("<HH", 0x4246, pad) + b"Z" * pad
    crc = zlib.crc32(data)
    out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                       len(name_b), len(extra)) + name_b + extra + data
    cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
    central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(name_b), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF) + name_b + cextra
  cd_offset = len(out)
  out += central
  eocd64 = len(out)
  out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries),
                     len(central), cd_offset)
  out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
  out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
  data = bytes(out)
  with zipfile.ZipFile(io.BytesIO(data)) as zf:  # Python reads it back identically
    assert zf.testzip() is None and [zf.read(n) for n, _ in entries] == [d for _, d in entries]
  return data


# ---------------------------------------------------------------------------------------------
# safetensors


def safetensors_bytes(spec, extra=None, metadata=None):
  items = list(spec.items()) + list((extra or {}).items())
  header, offset, blobs = {}, 0, []
  for name, (dtype, shape, values) in items:
    raw = pack(dtype, values)
    header[name] = {"dtype": DTYPES[dtype][2], "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
  if metadata:
    header["__metadata__"] = metadata
  text = json.dumps(header, separators=(",", ":")).encode()
  text += b" " * ((-len(text)) % 8)
  return struct.pack("<Q", len(text)) + text + b"".join(blobs)


# ---------------------------------------------------------------------------------------------
# Hostile files


def hostile_files(legacy):
  files = {}
  one = Storage(legacy.torch.FloatStorage, "1", "float32", [1.0, 2.0, 3.0, 4.0])
  files["hostile_stride.pth"] = legacy.legacy_save(
      collections.OrderedDict([("w", legacy.Tensor(one, 0, [3], [2**62]))]))
  single = Storage(legacy.torch.FloatStorage, "1", "float32", [1.0])
  files["hostile_size.pth"] = legacy.legacy_save(
      collections.OrderedDict([("w", legacy.Tensor(single, 0, [2**40], [0]))]))

  huge = Storage(legacy.torch.FloatStorage, "0", "float32", [1.0])

  class HugePickler(ZipPickler):
    def persistent_id(self, obj):
      if isinstance(obj, Storage):
        return ("storage", obj.storage_type, obj.key, "cpu", 2**61)
      return None

  out = io.BytesIO()
  HugePickler(out, {}).dump(collections.OrderedDict([("w", legacy.Tensor(huge, 0, [1], [1]))]))
  files["hostile_numel.pt"] = write_zipfile(
      [("hostile_numel/data.pkl", out.getvalue()), ("hostile_numel/data/0", b"\0\0\x80\x3f")])

  cyclic = collections.OrderedDict()
  cyclic["w"] = legacy.Tensor(single, 0, [1], [1])
  cyclic["self"] = cyclic
  files["hostile_cycle.pt"] = write_zipfile(zip_entries(cyclic, "hostile_cycle"))

  nested = b"\x80\x02" + b"(" * 50000 + b")" + b"t" * 50000 + b"."
  files["hostile_nested.pt"] = write_zipfile([("hostile_nested/data.pkl", nested)], deflate=True)

  evil = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R."
  files["hostile_global.pt"] = write_zipfile([("hostile_global/data.pkl", evil)])
  return files


# ---------------------------------------------------------------------------------------------
# Real torch (run in a subprocess: the stand-in modules above would shadow it)

TORCH_PART = r'''
import json, sys, torch
from safetensors.torch import save_file
out, specs = sys.argv[1], json.load(sys.stdin)
dt = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
      "float64": torch.float64, "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8,
      "bool": torch.bool}
for stem, spec in specs.items():
  sd = {}
  for name, (dtype, shape, values) in spec.items():
    sd[name] = torch.tensor(values, dtype=dt[dtype]).reshape(shape)
  if "grid" in sd:
    sd["grid_t"] = sd["grid"].t()
  torch.save(sd, f"{out}/{stem}_torch.pt")
  if stem == "tiny_cnn":
    torch.save(sd, f"{out}/{stem}_torch_legacy.pth", _use_new_zipfile_serialization=False)
  save_file({k: v.contiguous() for k, v in sd.items()}, f"{out}/{stem}_torch.safetensors",
            metadata={"format": "pt"})
print(torch.__version__)
'''


def main():
  out = sys.argv[1] if len(sys.argv) > 1 else HERE
  global Storage, ZipPickler
  legacy = stand_ins()
  Storage = storage_type(legacy)
  ZipPickler = zip_pickler(legacy)
  files = {}

  cnn = tiny_cnn_spec()
  files["tiny_cnn.pth"] = legacy.legacy_save(storages_and_tensors(legacy, cnn, 140000))
  wrapped = collections.OrderedDict()
  for name, tensor in storages_and_tensors(legacy, cnn, 0).items():
    wrapped["module." + name] = tensor
  wrapped._metadata = collections.OrderedDict([("", {"version": 1})])
  entries = zip_entries({"epoch": 3, "state_dict": wrapped}, "tiny_cnn")
  files["tiny_cnn.pt"] = write_zipfile(entries)
  files["tiny_cnn_deflate.pt"] = write_zipfile(entries, deflate=True)
  files["tiny_cnn_zip64.pt"] = write_zip64(entries)
  files["tiny_cnn.safetensors"] = safetensors_bytes(cnn, metadata={"format": "pt", "source": "make_torch_fixtures.py"})

  dt = dtypes_spec()
  files["dtypes.pt"] = write_zipfile(zip_entries(storages_and_tensors(legacy, dt, 0, with_transpose=True), "dtypes"))
  grid_t = ("float32", [3, 2], [v for row in GRID_T for v in row])
  files["dtypes.safetensors"] = safetensors_bytes(dt, extra={"grid_t": grid_t})

  files.update(hostile_files(legacy))
  for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
      f.write(data)
    print(f"wrote {name} ({len(data)} bytes)")

  specs = json.dumps({"tiny_cnn": cnn, "dtypes": dt})
  check = subprocess.run([sys.executable, "-c", "import torch, safetensors"], capture_output=True)
  if check.returncode != 0:
    print("torch or safetensors not importable: *_torch fixtures left as they are")
    return
  done = subprocess.run([sys.executable, "-c", TORCH_PART, out], input=specs.encode(), capture_output=True)
  if done.returncode != 0:
    sys.exit(done.stderr.decode())
  print(f"wrote *_torch fixtures with torch {done.stdout.decode().strip()}")


if __name__ == "__main__":
  main()
