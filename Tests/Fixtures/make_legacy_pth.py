#!/usr/bin/env python3
"""Writes Tests/Fixtures/legacy_small.pth: a tiny PyTorch legacy (pre-zip) `torch.save` file,
produced WITHOUT torch by emulating its legacy writer.

Stream: pickle(magic 0x1950a86a20f9469cfc6c), pickle(1001), pickle(sys_info), pickle(state dict
with persistent ids for storages), pickle(sorted storage keys), then per key: int64 LE element
count + raw little-endian elements. GLOBAL opcodes name torch symbols through stand-in modules
registered in sys.modules (`torch`, `torch._utils`); nothing from torch is needed or imported.

Contents (asserted by LegacyTorchFileTests):
  conv.weight            float32 [2, 3] contiguous: 0.5 -1.25 2 3.75 -0.125 100
  fc.weight_t            float32 [3, 2] view of a 12-element storage s[k] = 0.5 * k - 1,
                         storage offset 2, strides (1, 3): value[i][j] = s[2 + i + 3 j]
  shared.full            float32 [12] the same storage, contiguous (storage written once)
  bn.num_batches_tracked int64 [] (0-dim) 42
The state dict carries a `_metadata` attribute (BUILD opcode), as torch's do.

Usage: python3 Tests/Fixtures/make_legacy_pth.py [output path]
"""

import collections
import io
import os
import pickle
import struct
import sys
import types

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def fake_module(name):
  module = types.ModuleType(name)
  sys.modules[name] = module
  return module


torch = fake_module("torch")
torch_utils = fake_module("torch._utils")
torch._utils = torch_utils


def storage_class(name, fmt):
  cls = type(name, (), {"fmt": fmt})
  cls.__module__ = "torch"
  cls.__qualname__ = name
  setattr(torch, name, cls)
  return cls


FloatStorage = storage_class("FloatStorage", "<f")
LongStorage = storage_class("LongStorage", "<q")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks):
  raise RuntimeError("stand-in symbol, never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
_rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class Storage:
  """A typed storage: its class, key (torch uses the C pointer as a string) and elements."""

  def __init__(self, storage_type, key, values):
    self.storage_type, self.key, self.values = storage_type, key, values

  def raw(self):
    return b"".join(struct.pack(self.storage_type.fmt, v) for v in self.values)


class Tensor:
  """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

  def __reduce__(self):
    return (_rebuild_tensor_v2,
            (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
             collections.OrderedDict()))


class LegacyPickler(pickle.Pickler):
  """Replaces storages by torch's legacy persistent id and records them for the data section."""

  def __init__(self, file, storages):
    super().__init__(file, protocol=2)
    self.storages = storages

  def persistent_id(self, obj):
    if isinstance(obj, Storage):
      self.storages[obj.key] = obj
      return ("storage", obj.storage_type, obj.key, "cpu", len(obj.values), None)
    return None


def legacy_save(state_dict):
  out = io.BytesIO()
  for header in (MAGIC, PROTOCOL_VERSION,
                 {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                  "type_sizes": {"short": 2, "int": 4, "long": 8}}):
    pickle.dump(header, out, protocol=2)
  storages = {}
  LegacyPickler(out, storages).dump(state_dict)
  keys = sorted(storages)
  pickle.dump(keys, out, protocol=2)
  for key in keys:
    storage = storages[key]
    out.write(struct.pack("<q", len(storage.values)))
    out.write(storage.raw())
  return out.getvalue()


def fixture():
  conv = Storage(FloatStorage, "140001", [0.5, -1.25, 2.0, 3.75, -0.125, 100.0])
  shared = Storage(FloatStorage, "140002", [0.5 * k - 1.0 for k in range(12)])
  count = Storage(LongStorage, "140003", [42])
  state = collections.OrderedDict()
  state["conv.weight"] = Tensor(conv, 0, [2, 3], [3, 1])
  state["fc.weight_t"] = Tensor(shared, 2, [3, 2], [1, 3])
  state["shared.full"] = Tensor(shared, 0, [12], [1])
  state["bn.num_batches_tracked"] = Tensor(count, 0, [], [])
  state._metadata = collections.OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
  return state


def main():
  here = os.path.dirname(os.path.abspath(__file__))
  path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "legacy_small.pth")
  data = legacy_save(fixture())
  with open(path, "wb") as f:
    f.write(data)
  print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
  main()
