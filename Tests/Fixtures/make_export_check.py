#!/usr/bin/env python3
"""Checks `modelfool export` against other runtimes (a peer check, not part of the Swift tests).

1. A digits model (default: fine-tuned with `modelfool finetune --dataset digits`, which trains the
   base model first when it is missing) is exported to ONNX and safetensors. The first --count
   test-order digit images (pixels / 255, written to an HDF5 `inputs` dataset, so both sides get the
   very same floats) go through
     - `modelfool predict --model CKPT --input inputs.h5 --top 10 --json` (ModelFool's logits),
     - onnxruntime on the exported .onnx,
     - the same network written in PyTorch (DigitsCNN below) after
       `load_state_dict(load_file(exported.safetensors), strict=True)`.
   Reported: the largest relative error max|a - b| / max|b| over the images, against ModelFool.
2. For each zoo architecture of --zoo (random weights, seed 0), `modelfool export --model zoo:ARCH`
   to .onnx and .safetensors (export seconds and bytes from the command's JSON, and the command's
   wall time including building the model); onnxruntime's logits on two random [0, 1] 224x224
   images are compared with `modelfool predict` on the same floats, and, when torchvision is
   importable and has the architecture, its module takes the safetensors with `strict=True` and
   its logits on the normalised images are compared with onnxruntime's (the exported graph
   normalises inside).

3. When torchvision is importable: its resnet18 (10 classes) with seeded non-trivial BatchNorm
   statistics, scales and shifts is saved as safetensors, imported (`modelfool import --from
   FILE.safetensors --arch resnet18 --option classes=10`) and exported again to .onnx and
   .safetensors: onnxruntime's logits against torchvision's, and the exported state dict against
   the original (same names and dtypes; largest absolute difference).

Usage: python3 Tests/Fixtures/make_export_check.py [--modelfool .build/release/modelfool]
           [--model CKPT] [--work DIR] [--count 64] [--zoo resnet18,resnet50,densenet121]
       (needs numpy, h5py, onnxruntime, torch, safetensors; torchvision optional)
Output: one JSON object on stdout.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import onnxruntime
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DigitsCNN(nn.Module):
  """The zoo's `digits-cnn` (default channels 32, 64, 128) with its parameter names."""

  def __init__(self, channels=(32, 64, 128), classes=10):
    super().__init__()
    c = channels
    self.features = nn.Sequential(
        nn.Conv2d(1, c[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU())
    self.classifier = nn.Linear(c[2], classes)

  def forward(self, x):
    return self.classifier(self.features(x).mean(dim=(2, 3)))


def run(binary, args, cwd):
  r = subprocess.run([binary] + args, cwd=cwd, capture_output=True, text=True)
  if r.returncode != 0:
    sys.exit(f"modelfool {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
  return r.stdout


def relative_error(a, b):
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def onnx_logits(path, x):
  session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
  return session.run(None, {session.get_inputs()[0].name: x})[0]


def predicted_logits(binary, work, model, x, classes):
  """ModelFool's logits for `x`, through `predict --input inputs.h5` (an HDF5 `inputs` dataset)."""
  with h5py.File(os.path.join(work, "inputs.h5"), "w") as f:
    f["inputs"] = x
  out = json.loads(run(binary, ["predict", "--model", model, "--input", "inputs.h5", "--top", str(classes), "--json"], work))
  ours = np.zeros((len(x), classes), dtype=np.float32)
  for i, p in enumerate(out):
    for s in p["top"]:
      ours[i, s["class"]] = s["logit"]
  return ours


def digits_check(binary, work, model, count):
  if model is None:
    run(binary, ["finetune", "--dataset", "digits", "--steps", "20", "--out", "ft"], work)
    model = os.path.join(work, "ft", "model.h5")
  run(binary, ["export", "--model", model, "--to", "digits.onnx"], work)
  run(binary, ["export", "--model", model, "--to", "digits.safetensors"], work)
  rows = np.loadtxt(gzip.open(os.path.join(ROOT, "datasets", "digits", "mnist_5k.csv.gz")), delimiter=",", dtype=np.float32)
  step = max(1, len(rows) // count)
  x = (rows[::step][:count, :784] / 255).reshape(-1, 1, 28, 28).astype(np.float32)
  ours = predicted_logits(binary, work, model, x, 10)
  ort = onnx_logits(os.path.join(work, "digits.onnx"), x)
  net = DigitsCNN()
  net.load_state_dict(load_file(os.path.join(work, "digits.safetensors")), strict=True)
  with torch.no_grad():
    pt = net.eval()(torch.from_numpy(x)).numpy()
  per_image = lambda a: max(relative_error(a[i], ours[i]) for i in range(len(x)))
  return {
      "model": os.path.relpath(model, work) if model.startswith(work) else model, "images": len(x),
      "onnxruntime_max_relative_error": per_image(ort), "torch_safetensors_max_relative_error": per_image(pt),
      "onnxruntime_version": onnxruntime.__version__, "torch_version": torch.__version__,
      "same_top1": bool((ort.argmax(1) == ours.argmax(1)).all() and (pt.argmax(1) == ours.argmax(1)).all()),
  }


def zoo_check(binary, work, arch):
  result = {"arch": arch}
  for ext in ("onnx", "safetensors"):
    start = time.perf_counter()
    summary = json.loads(run(binary, ["export", "--model", f"zoo:{arch}", "--to", f"{arch}.{ext}", "--json"], work))
    result[ext] = {"bytes": summary["bytes"], "export_seconds": round(summary["seconds"], 3),
                   "command_seconds": round(time.perf_counter() - start, 3)}
  x = np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32)
  ort = onnx_logits(os.path.join(work, f"{arch}.onnx"), x)
  ours = predicted_logits(binary, work, f"zoo:{arch}", x, ort.shape[1])
  result["onnxruntime_vs_modelfool_max_relative_error"] = max(relative_error(ort[i], ours[i]) for i in range(len(x)))
  try:
    import torchvision
  except ImportError:
    result["torchvision"] = "not installed"
    return result
  if not hasattr(torchvision.models, arch):
    return result
  net = getattr(torchvision.models, arch)()
  net.load_state_dict(load_file(os.path.join(work, f"{arch}.safetensors")), strict=True)
  mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
  std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
  with torch.no_grad():
    pt = net.eval()(torch.from_numpy((x - mean) * (1 / std))).numpy()
  result["torchvision_strict_load"] = True
  result["onnxruntime_vs_torchvision_max_relative_error"] = max(relative_error(ort[i], pt[i]) for i in range(len(x)))
  return result


def torch_round_trip(binary, work):
  try:
    import torchvision
  except ImportError:
    return {"torchvision": "not installed"}
  from safetensors.torch import save_file
  torch.manual_seed(0)
  net = torchvision.models.resnet18(num_classes=10)
  g = torch.Generator().manual_seed(1)
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5, generator=g)
        m.bias.uniform_(-0.3, 0.3, generator=g)
        m.running_mean.uniform_(-0.2, 0.2, generator=g)
        m.running_var.uniform_(0.5, 2.0, generator=g)
        m.num_batches_tracked.fill_(7)
  original = net.state_dict()
  save_file(original, os.path.join(work, "tv_resnet18.safetensors"))
  run(binary, ["import", "--from", "tv_resnet18.safetensors", "--arch", "resnet18", "--option", "classes=10", "--out", "tv_resnet18.h5"], work)
  run(binary, ["export", "--model", "tv_resnet18.h5", "--to", "tv_resnet18.onnx"], work)
  run(binary, ["export", "--model", "tv_resnet18.h5", "--to", "tv_resnet18_back.safetensors"], work)
  back = load_file(os.path.join(work, "tv_resnet18_back.safetensors"))
  fresh = torchvision.models.resnet18(num_classes=10)
  fresh.load_state_dict(back, strict=True)
  x = np.random.default_rng(1).random((2, 3, 224, 224), dtype=np.float32)
  mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
  std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
  with torch.no_grad():
    pt = net.eval()(torch.from_numpy((x - mean) * (1 / std))).numpy()
  ort = onnx_logits(os.path.join(work, "tv_resnet18.onnx"), x)
  return {
      "arch": "resnet18 (torchvision, non-trivial BatchNorm statistics)",
      "same_names": sorted(back) == sorted(original), "same_dtypes": all(back[k].dtype == original[k].dtype for k in original),
      "state_dict_max_abs_difference": max(float((back[k].double() - original[k].double()).abs().max()) for k in original),
      "onnxruntime_vs_torchvision_max_relative_error": max(relative_error(ort[i], pt[i]) for i in range(len(x))),
  }


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--modelfool", default=os.path.join(ROOT, ".build", "release", "modelfool"))
  p.add_argument("--model", help="digits checkpoint (default: fine-tune one)")
  p.add_argument("--work", default="/tmp/modelfool-export-check")
  p.add_argument("--count", type=int, default=64)
  p.add_argument("--zoo", default="resnet18,resnet50,densenet121", help="comma-separated zoo architectures ('' for none)")
  a = p.parse_args()
  os.makedirs(a.work, exist_ok=True)
  binary = os.path.abspath(a.modelfool)
  model = os.path.abspath(a.model) if a.model else None
  report = {"digits": digits_check(binary, a.work, model, a.count)}
  report["zoo"] = [zoo_check(binary, a.work, arch) for arch in a.zoo.split(",") if arch]
  report["torchvision_round_trip"] = torch_round_trip(binary, a.work)
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  main()
