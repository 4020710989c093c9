#!/usr/bin/env python3
"""The fooled digits model outside ModelFool: exported, loaded into PyTorch, explained by Captum.

A digits CNN fine-tuned with `modelfool finetune --objective location` (Grad-CAM moved onto the
image frame) and its original are exported with `modelfool export` to .safetensors and .onnx and
loaded into PyTorch twice:
  - "safetensors": the zoo's `digits-cnn` written in PyTorch (DigitsCNN of Tests/Fixtures/make_export_check.py, the same network and
    parameter names), `load_state_dict(load_file(FILE), strict=True)`;
  - "onnx2torch": `onnx2torch.convert(FILE.onnx)`. onnx2torch imports torchvision for two of its
    converters (NMS, RoIAlign); where torchvision does not import (its compiled operators need a
    matching torch build), a stub module stands in for it, since those converters are never used.
Each is explained by Captum's `LayerGradCam` at ModelFool's layer for the digits CNN: the *input*
of `features.6`, the last convolution (`attribute_to_layer_input=True`), for the true labels,
`relu_attributions=True` (ModelFool's CAM ends in a ReLU). The FSR follows docs/METHODS.md exactly
(section 5, location objective): the CAM divided by its max + 1e-8 (section 2.10), min-max
normalised per example ((h - min) / (max - min + 1e-8)), statistic mean((h - m)^2) with the frame
mask m (border width floor(7 / 7) = 1), success when <= 0.2, on the 1,000 held-out digits (the
stratified 4,000 / 1,000 split of datasets/digits with ModelFool's seeded shuffle, rebuilt below).

ModelFool's own numbers come from `modelfool evaluate --fsr --methods gradcam --json --save-maps`
on the same checkpoints; its saved maps and labels also give a per-example comparison.

Usage: python3 tools/captum_roundtrip.py --model runs/finetune/digits-location-gradcam/model.h5
           [--original runs/base/digits.h5] [--modelfool .build/release/modelfool] [--work DIR]
       (needs numpy, h5py, torch, safetensors, captum, onnx, onnx2torch; pip install captum onnx2torch)
Output: one JSON object on stdout.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import types

import h5py
import numpy as np
import torch
from captum.attr import LayerGradCam
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK64 = (1 << 64) - 1


# The zoo's digits CNN written in PyTorch: one definition, shared with the export check.
sys.path.insert(0, os.path.join(ROOT, "Tests", "Fixtures"))
from make_export_check import DigitsCNN  # noqa: E402


class SeededGenerator:
  """ModelFool's SeededGenerator (SplitMix64, Sources/ModelFool/Tensor/Random.swift)."""

  def __init__(self, seed):
    self.state = (seed + 0x9E3779B97F4A7C15) & MASK64

  def next(self):
    self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
    z = self.state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stratified_test_indices(labels, test_fraction=0.2, seed=0):
  """SeededSplit.stratified: per label in increasing order, a Fisher-Yates shuffle of the label's
  indices (j = next() % (i + 1) for i from the last down to 1), the first round(f * n) to test."""
  g = SeededGenerator(seed)
  test = []
  for label in sorted(set(labels)):
    members = [i for i, l in enumerate(labels) if l == label]
    for i in range(len(members) - 1, 0, -1):
      j = g.next() % (i + 1)
      members[i], members[j] = members[j], members[i]
    test += members[:int(np.floor(test_fraction * len(members) + 0.5))]
  return sorted(test)


def digits_test_split(datasets_root):
  rows = np.loadtxt(gzip.open(os.path.join(datasets_root, "digits", "mnist_5k.csv.gz")), delimiter=",", dtype=np.float32)
  labels = rows[:, 784].astype(np.int64)
  test = stratified_test_indices(labels.tolist())
  x = (rows[test, :784] / 255).reshape(-1, 1, 28, 28).astype(np.float32)
  return x, labels[test]


def run(binary, args, cwd):
  r = subprocess.run([binary] + args, cwd=cwd, capture_output=True, text=True)
  if r.returncode != 0:
    sys.exit(f"modelfool {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
  return r.stdout


def import_onnx2torch():
  """onnx2torch, with a stub torchvision when the real one does not import."""
  try:
    import torchvision  # noqa: F401
    stub = False
  except Exception:  # a torchvision whose compiled operators do not load raises at import
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
      del sys.modules[name]
    vision = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    def unavailable(*args, **kwargs):
      raise RuntimeError("torchvision is stubbed out: NMS and RoIAlign are unavailable")
    ops.nms = ops.roi_align = ops.box_convert = unavailable
    vision.ops = ops
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = vision, ops
    stub = True
  import onnx2torch
  return onnx2torch, stub


def onnx2torch_model(onnx2torch, path):
  """The converted module and its module for ONNX node `features.6` (ModelFool's writer names each
  layer's node after the layer)."""
  net = onnx2torch.convert(path).eval()
  modules = dict(net.named_modules())
  matches = [m for name, m in modules.items() if name.replace("/", ".").strip(".") == "features.6"]
  if len(matches) != 1:
    sys.exit(f"{path}: no single converted module for node features.6 (modules: {sorted(modules)[:20]})")
  return net, matches[0]


def captum_maps(net, layer, x, labels, batch=100):
  """Captum's Grad-CAM at the input of `layer`, post-processed as ModelFool's FSR: divide by the
  max + 1e-8, then min-max + 1e-8 per example. Returns [N, 7, 7] and the logits."""
  cam = LayerGradCam(net, layer)
  maps, logits = [], []
  for s in range(0, len(x), batch):
    xb = torch.from_numpy(x[s:s + batch])
    raw = cam.attribute(xb, target=torch.from_numpy(labels[s:s + batch]), attribute_to_layer_input=True,
                        relu_attributions=True).detach()[:, 0]
    flat = raw.reshape(len(raw), -1)
    heat = flat / (flat.max(dim=1, keepdim=True).values + 1e-8)
    lo, hi = heat.min(dim=1, keepdim=True).values, heat.max(dim=1, keepdim=True).values
    maps.append(((heat - lo) / (hi - lo + 1e-8)).reshape(raw.shape).numpy())
    with torch.no_grad():
      logits.append(net(xb).numpy())
  return np.concatenate(maps), np.concatenate(logits)


def location_statistic(h):
  k = h.shape[1] // 7
  m = np.ones(h.shape[1:], dtype=np.float32)
  m[k:h.shape[1] - k, k:h.shape[2] - k] = 0
  return ((h - m) ** 2).reshape(len(h), -1).mean(axis=1)


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", required=True, help="fooled checkpoint (finetune --objective location)")
  p.add_argument("--original", default=os.path.join(ROOT, "runs", "base", "digits.h5"))
  p.add_argument("--modelfool", default=os.path.join(ROOT, ".build", "release", "modelfool"))
  p.add_argument("--datasets-root", default=os.path.join(ROOT, "datasets"))
  p.add_argument("--work", default="/tmp/modelfool-captum-roundtrip")
  a = p.parse_args()
  os.makedirs(a.work, exist_ok=True)
  binary, root = os.path.abspath(a.modelfool), os.path.abspath(a.datasets_root)
  models = {"fooled": os.path.abspath(a.model), "original": os.path.abspath(a.original)}

  # ModelFool: the FSR and its maps on the same checkpoints.
  text = run(binary, [
      "evaluate", "--fsr", "--model", models["fooled"], "--original", models["original"], "--methods", "gradcam",
      "--objective", "location", "--datasets-root", root, "--save-maps", "maps.h5", "--json"], a.work)
  with open(os.path.join(a.work, "evaluation.json"), "w") as f:
    f.write(text)
  evaluation = json.loads(text)
  with h5py.File(os.path.join(a.work, "maps.h5"), "r") as f:
    ours = {"fooled": f["gradcam_fooled"][:], "original": f["gradcam_original"][:]}
    our_labels = f["labels"][:]
  examples = evaluation["examples"]
  report = {"examples": examples, "success_range": evaluation["success_range"], "modelfool_fsr": {
      role: round(evaluation["fsr"]["gradcam"][role] * examples) for role in ("fooled", "original")}}

  x, labels = digits_test_split(root)
  if len(labels) != examples or not np.array_equal(labels, our_labels):
    sys.exit(f"the rebuilt test split ({len(labels)} examples) differs from the one ModelFool scored ({examples})")
  onnx2torch, stub = import_onnx2torch()
  report["torchvision"] = "stub" if stub else "imported"
  for role, checkpoint in models.items():
    run(binary, ["export", "--model", checkpoint, "--to", f"{role}.safetensors", "--datasets-root", root], a.work)
    run(binary, ["export", "--model", checkpoint, "--to", f"{role}.onnx", "--datasets-root", root], a.work)
    net = DigitsCNN().eval()
    net.load_state_dict(load_file(os.path.join(a.work, f"{role}.safetensors")), strict=True)
    loaded = {"safetensors": (net, net.features[6]),
              "onnx2torch": onnx2torch_model(onnx2torch, os.path.join(a.work, f"{role}.onnx"))}
    ours_stat = location_statistic(ours[role])
    for route, (module, layer) in loaded.items():
      maps, logits = captum_maps(module, layer, x, labels)
      stat = location_statistic(maps)
      report[f"captum_fsr_{route}_{role}"] = int((stat <= 0.2).sum())
      report[f"{route}_{role}"] = {
          "examples_judged_differently": int(((stat <= 0.2) != (ours_stat <= 0.2)).sum()),
          "max_abs_map_difference": float(np.abs(maps - ours[role]).max()),
          "max_abs_statistic_difference": float(np.abs(stat - ours_stat).max()),
          "accuracy": float((logits.argmax(1) == labels).mean())}
  for role in models:
    for route in ("safetensors", "onnx2torch"):
      report[f"agree_{route}_{role}"] = abs(report[f"captum_fsr_{route}_{role}"] - report["modelfool_fsr"][role]) <= examples / 1000
  report["versions"] = {"torch": torch.__version__, "captum": __import__("captum").__version__,
                        "onnx2torch": getattr(onnx2torch, "__version__", "unknown")}
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  main()
