#!/usr/bin/env python3
"""PyTorch eager peer of the EfficientNet-Lite0 fine-tuning step of `modelfool bench step`.

The network is the `efficientnet-lite0` builder's, written here in torch.nn.functional and loaded
from a ModelFool checkpoint (h5py): TensorFlow "SAME" padding (the extra row/column at the
bottom/right), BatchNorm eps 1e-3 in inference form (running statistics fixed, scale and shift
trained, as in `setTraining(false)`), ReLU6, residual when stride 1 and channels agree, no
squeeze-excite, `(255 x - 127) / 128` input mapping, global mean, dense (dropout is off in
inference form).

Steps, as `FineTuneBenchmark.stepTimes` takes them: a batch of `--batch` (default 4) seeded
uniform 3x224x224 inputs, labels `i % 1000`, Adam lr 1e-4 over every trained tensor;
- plain: `CE(logits, y)`;
- Grad-CAM location: `CE + 1.0 * mean((cam / (max cam + 1e-8) - frame)^2)`, Grad-CAM at the
  input of `_conv_head` (the last block's 320x7x7 output) from one forward, the true-class logits'
  gradient with `create_graph=True`, `frame` 1 on the 1-pixel border of the 7x7 map.

  python3 bench/peers/torch_effnet_step.py [--checkpoint runs/models/efficientnet-lite0.h5]
      [--threads 1] [--iterations 10] [--warmup 2] [--batch 4] [--inputs FILE.h5] [--json]

--inputs: an HDF5 file with float32 `inputs` [N, 3, 224, 224]; prints the top-5 logits of each
input as JSON (compare with `modelfool predict --input FILE.h5 --json`) and exits.
Output otherwise: one JSON line. Without torch, h5py or the checkpoint: a one-line reason on
stderr and exit status 3.
"""
import argparse
import json
import os
import sys

from peer_common import LITE0_STAGES, fail as peer_fail, finetune_steps, median_ms, pin_threads, print_result, read_checkpoint


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--checkpoint", default="runs/models/efficientnet-lite0.h5")
  p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
  p.add_argument("--iterations", type=int, default=10, help="timed steps per variant (default 10)")
  p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
  p.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
  p.add_argument("--inputs", help="HDF5 file of inputs: print their top-5 logits and exit")
  p.add_argument("--json", action="store_true", help="print only the JSON line (the default)")
  args = p.parse_args()
  if args.threads < 1 or args.iterations < 1 or args.warmup < 0 or args.batch < 1:
    p.error("--threads, --iterations and --batch must be positive, --warmup not negative")
  return args


def fail(message):
  return peer_fail("torch EfficientNet peer", message)


def same_pads(size, k, s):
  out = -(-size // s)
  total = max((out - 1) * s + k - size, 0)
  return total // 2, total - total // 2


class Lite0:
  """The network as functions of a dict of tensors named as in the checkpoint."""

  def __init__(self, torch, tensors):
    self.torch, self.F = torch, torch.nn.functional
    self.p = {k: torch.from_numpy(v) for k, v in tensors.items()}
    for k, v in self.p.items():
      if not (k.endswith("running_mean") or k.endswith("running_var") or k.endswith("num_batches_tracked")):
        v.requires_grad_(True)
    self.trained = [v for v in self.p.values() if v.requires_grad]

  def conv(self, x, name, k, s, groups=1):
    t, b = same_pads(x.shape[2], k, s)
    l, r = same_pads(x.shape[3], k, s)
    if t or b or l or r:
      x = self.F.pad(x, (l, r, t, b))
    return self.F.conv2d(x, self.p[name + ".weight"], stride=s, groups=groups)

  def bn(self, x, name, act=True):
    p = self.p
    y = self.F.batch_norm(x, p[name + ".running_mean"], p[name + ".running_var"], p[name + ".weight"],
                          p[name + ".bias"], training=False, eps=1e-3)
    return self.F.relu6(y) if act else y

  def features(self, x):
    """Input -> the last block's output (the input of `_conv_head`)."""
    x = (x * 255 - 127) / 128
    x = self.bn(self.conv(x, "_conv_stem", 3, 2), "_bn0")
    b, channels = 0, 32
    for expand, k, stride, out_c, repeats in LITE0_STAGES:
      for r in range(repeats):
        s = stride if r == 0 else 1
        pre = f"_blocks.{b}."
        h = x
        if expand != 1:
          h = self.bn(self.conv(h, pre + "_expand_conv", 1, 1), pre + "_bn0")
        h = self.bn(self.conv(h, pre + "_depthwise_conv", k, s, groups=h.shape[1]), pre + "_bn1")
        h = self.bn(self.conv(h, pre + "_project_conv", 1, 1), pre + "_bn2", act=False)
        x = x + h if (s == 1 and channels == out_c) else h
        channels = out_c
        b += 1
    return x

  def head(self, a):
    a = self.bn(self.conv(a, "_conv_head", 1, 1), "_bn1").mean(dim=(2, 3))
    return self.F.linear(a, self.p["_fc.weight"], self.p["_fc.bias"])


def main():
  args = parse_args()
  pin_threads(args.threads)
  try:
    import numpy as np
    import h5py
    import torch
  except ImportError as error:
    return fail(f"{error} (pip install torch h5py)")
  if not os.path.exists(args.checkpoint):
    return fail(f"{args.checkpoint} not found: run `modelfool import efficientnet-lite0` first")
  torch.set_num_threads(args.threads)
  net = Lite0(torch, read_checkpoint(args.checkpoint))

  if args.inputs:
    with h5py.File(args.inputs, "r") as f:
      xs = torch.from_numpy(np.asarray(f["inputs"], dtype=np.float32))
    with torch.no_grad():
      logits = net.head(net.features(xs))
    top = logits.topk(5, dim=1)
    print(json.dumps([{"classes": c.tolist(), "logits": v.tolist()} for v, c in zip(top.values, top.indices)]))
    return 0

  generator = torch.Generator().manual_seed(2)
  x = torch.rand(args.batch, 3, 224, 224, generator=generator)
  y = torch.arange(args.batch) % 1000
  adam = torch.optim.Adam(net.trained, lr=1e-4)
  plain_step, gradcam_step = finetune_steps(torch, net, x, y, adam)

  def timed(step):
    return median_ms(step, args.warmup, args.iterations)

  return print_result("torch EfficientNet peer", lambda: {
      "peer": "torch", "torch_version": torch.__version__, "threads": args.threads, "batch": args.batch,
      "effnet_plain_step_ms": round(timed(plain_step), 2),
      "effnet_gradcam_location_step_ms": round(timed(gradcam_step), 2),
  })


if __name__ == "__main__":
  sys.exit(main())
