#!/usr/bin/env python3
"""Captum / Zennit peer of `modelfool bench explain`: explaining 32 digits with the digits CNN.

The network is the `digits-cnn` builder's (conv 1->32, ReLU, max-pool 2, conv 32->64, ReLU,
max-pool 2, conv 64->128, ReLU, global average pool, dense 128->10), loaded from a ModelFool
checkpoint with h5py. Inputs: every 156th row of datasets/digits/mnist_5k.csv.gz (32 digits of all classes, pixels /
255), explained for their labels (ModelFool's bench takes the first 32 *test* digits: other digits
of the same kind). Timed, one thread, median of `--iterations` after one untimed pass:
- forward_backward_ms: CE forward + backward to the weights (the bench's baseline);
- simplegrad_ms: Captum `Saliency` (absolute input gradient);
- gradcam_ms: Captum `LayerGradCam` at the input of the third conv (ModelFool's target layer),
  ReLU applied, no upsampling;
- lrp_ms: Zennit with ModelFool's default `heo` composite written as a `LayerMapComposite`
  (epsilon 0.01 on the dense layer, alpha1-beta0 on the convolutions, ReLU and pooling passed
  through as Zennit does by default); relevance = input gradient with the rules attached.

  python3 bench/peers/captum_explain.py [--checkpoint runs/base/digits.h5] [--iterations 10]

Output: one JSON line. Without torch, captum, zennit or h5py: a one-line reason on stderr, exit 3.
"""
import argparse
import gzip
import os
import sys
import warnings

from peer_common import fail as peer_fail, median_ms, pin_threads, print_result, read_checkpoint


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--checkpoint", default="runs/base/digits.h5")
  p.add_argument("--data", default="datasets/digits/mnist_5k.csv.gz")
  p.add_argument("--iterations", type=int, default=10)
  p.add_argument("--threads", type=int, default=1)
  p.add_argument("--json", action="store_true", help="print only the JSON line (the default)")
  args = p.parse_args()
  if args.iterations < 1 or args.threads < 1:
    p.error("--iterations and --threads must be positive")
  return args


def fail(message):
  return peer_fail("captum/zennit peer", message)


def main():
  args = parse_args()
  warnings.filterwarnings("ignore")  # Captum's "did not already require gradients" on every call
  pin_threads(args.threads)
  try:
    import numpy as np
    import h5py
    import torch
    from captum.attr import LayerGradCam, Saliency
    from zennit.composites import LayerMapComposite
    from zennit.rules import AlphaBeta, Epsilon
  except ImportError as error:
    return fail(f"{error} (pip install torch captum zennit h5py)")
  for path in (args.checkpoint, args.data):
    if not os.path.exists(path):
      return fail(f"{path} not found")
  torch.set_num_threads(args.threads)
  nn = torch.nn

  tensors = read_checkpoint(args.checkpoint)
  convs = [nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1), nn.Conv2d(64, 128, 3, padding=1)]
  model = nn.Sequential(convs[0], nn.ReLU(), nn.MaxPool2d(2), convs[1], nn.ReLU(), nn.MaxPool2d(2), convs[2], nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
  names = {0: "features.0", 3: "features.3", 6: "features.6", 10: "classifier"}
  with torch.no_grad():
    for index, name in names.items():
      try:
        model[index].weight.copy_(torch.from_numpy(tensors[name + ".weight"]))
        model[index].bias.copy_(torch.from_numpy(tensors[name + ".bias"]))
      except KeyError as error:
        return fail(f"{args.checkpoint} has no tensor {error} (is it a digits-cnn checkpoint?)")
  model.eval()

  # The catalogue's CSV: 784 pixels and the label last, sorted by label: every 156th row gives
  # 32 digits of every class.
  with gzip.open(args.data, "rt") as f:
    table = np.asarray([[float(v) for v in line.split(",")] for i, line in enumerate(f) if i % 156 == 0][:32],
                       dtype=np.float32)
  if table.shape != (32, 785):
    return fail(f"{args.data}: expected rows of 785 columns, got {table.shape}")
  y = torch.from_numpy(table[:, -1].astype(np.int64))
  pixels = table[:, :-1]
  x = torch.from_numpy(pixels / 255.0).reshape(32, 1, 28, 28).float()

  saliency = Saliency(model)
  gradcam = LayerGradCam(model, convs[2])
  composite = LayerMapComposite([(nn.Linear, Epsilon(epsilon=0.01)), (nn.Conv2d, AlphaBeta(alpha=1, beta=0))])
  loss_fn = nn.CrossEntropyLoss()

  def forward_backward():
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()

  def lrp():
    xi = x.clone().requires_grad_()
    with composite.context(model) as modified:
      out = modified(xi)
      (relevance,) = torch.autograd.grad(out, xi, torch.nn.functional.one_hot(y, 10).float() * out)
    return relevance

  variants = {
      "forward_backward_ms": forward_backward,
      "simplegrad_ms": lambda: saliency.attribute(x, target=y, abs=True),
      "gradcam_ms": lambda: gradcam.attribute(x, target=y, attribute_to_layer_input=True, relu_attributions=True),
      "lrp_ms": lrp,
  }
  def measure():
    result = {"peer": "captum+zennit", "torch_version": torch.__version__, "threads": args.threads, "batch": 32}
    for key, fn in variants.items():
      result[key] = round(median_ms(fn, 1, args.iterations), 3)
    return result

  return print_result("captum/zennit peer", measure)


if __name__ == "__main__":
  sys.exit(main())
