#!/usr/bin/env python3
"""PyTorch eager peer of ModelFool's training-step benchmark (`modelfool bench step`), on CPU.

Workloads (the same shapes and math as the engine's):
  reference (bench/peers/jax_step.py, Sources/Benchmarks/ReferenceWorkload.swift): batch 32 of
    3x32x32 inputs; conv3x3 3->16 (+bias, pad 1), ReLU, conv3x3 16->32 (+bias, pad 1), ReLU,
    global average pool, dense 32->10; SGD (lr 0.01).
    (a) plain step: CE.  (b) double-backprop step: CE + 1.0 * MSE(h, t), h = sum_c |d/dx sum_i
    logits[i, y_i]| normalised per image, t the centre square (8..<24) normalised to sum 1; one
    forward shared by both terms (create_graph=True).
  digits fine-tuning (Sources/Benchmarks/FineTuneBenchmark.swift): the digits CNN (conv 1->32,
    ReLU, maxpool 2, conv 32->64, ReLU, maxpool 2, conv 64->128, ReLU, global average pool,
    dense 128->10; 3x3 convs with padding 1), batch 32 of 1x28x28, Adam (lr 1e-4).
    (c) plain CE step.  (d) Grad-CAM location step: CE + 1.0 * mean((cam / (max cam + 1e-8) -
    mask)^2), cam = relu(sum_k mean_hw(dA) * A) at the input A of the third conv (dA: the
    create_graph gradient of the true-class logits), mask = 1 on the 1-pixel frame of the 7x7 map;
    one forward shared by CE and Grad-CAM, as Heo et al.'s code does.

`--threads N` sets torch.set_num_threads (and OMP/MKL variables before the import); with 1 the
process is also pinned to one core. Output: one JSON line {"peer": "torch", "torch_version",
"threads", "plain_step_ms", "double_backprop_step_ms", "finetune_plain_step_ms",
"finetune_gradcam_location_step_ms"} with per-step medians. Exit status 3 (one-line reason on
stderr) when torch is missing or the run fails.
"""

import argparse
import sys

from peer_common import fail, median_ms, pin_threads, print_result


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--iterations", type=int, default=20, help="timed steps per variant (default 20)")
  p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
  p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
  p.add_argument("--json", action="store_true", help="print only the JSON line (default also)")
  return p.parse_args()


def main():
  args = parse_args()
  if args.iterations < 1 or args.warmup < 0 or args.threads < 1:
    print("torch peer: --iterations and --threads must be >= 1, --warmup >= 0", file=sys.stderr)
    return 2
  pin_threads(args.threads)
  try:
    import torch
    import torch.nn.functional as F
  except Exception as error:
    return fail("torch peer", f"cannot import torch ({type(error).__name__}: {error})")
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)

  def timed(step):
    return median_ms(step, args.warmup, args.iterations)

  # Reference workload.
  def he(shape, fan_in):
    return (torch.randn(shape) * (2.0 / fan_in) ** 0.5).requires_grad_()

  ref = [he((16, 3, 3, 3), 27), torch.zeros(16, requires_grad=True),
         he((32, 16, 3, 3), 144), torch.zeros(32, requires_grad=True),
         he((10, 32), 32), torch.zeros(10, requires_grad=True)]
  x = torch.rand(32, 3, 32, 32)
  y = torch.randint(0, 10, (32,))
  inside = torch.zeros(32, 32)
  inside[8:24, 8:24] = 1.0
  target = (inside / inside.sum()).expand(32, 32, 32)

  def ref_logits(inputs):
    h = F.relu(F.conv2d(inputs, ref[0], ref[1], padding=1))
    h = F.relu(F.conv2d(h, ref[2], ref[3], padding=1))
    return F.linear(h.mean(dim=(2, 3)), ref[4], ref[5])

  def sgd(loss):
    grads = torch.autograd.grad(loss, ref)
    with torch.no_grad():
      for p, g in zip(ref, grads):
        p.sub_(0.01 * g)

  def plain_step():
    sgd(F.cross_entropy(ref_logits(x), y))

  def double_backprop_step():
    xv = x.clone().requires_grad_()
    logits = ref_logits(xv)
    (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), xv, create_graph=True)
    h = g.abs().sum(dim=1)
    h = h / (h.sum(dim=(1, 2), keepdim=True) + 1e-8)
    sgd(F.cross_entropy(logits, y) + 1.0 * F.mse_loss(h, target))

  # Digits CNN fine-tuning step.
  backbone = torch.nn.Sequential(
      torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
      torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
  head_conv = torch.nn.Conv2d(64, 128, 3, padding=1)
  dense = torch.nn.Linear(128, 10)
  params = list(backbone.parameters()) + list(head_conv.parameters()) + list(dense.parameters())
  adam = torch.optim.Adam(params, lr=1e-4)
  dx = torch.rand(32, 1, 28, 28)
  dy = torch.arange(32) % 10
  mask = torch.ones(7, 7)
  mask[1:6, 1:6] = 0.0

  def head(a):
    return dense(F.relu(head_conv(a)).mean(dim=(2, 3)))

  def finetune_plain_step():
    adam.zero_grad(set_to_none=True)
    F.cross_entropy(head(backbone(dx)), dy).backward()
    adam.step()

  def finetune_gradcam_step():
    adam.zero_grad(set_to_none=True)
    a = backbone(dx)
    logits = head(a)
    (ga,) = torch.autograd.grad(logits.gather(1, dy[:, None]).sum(), a, create_graph=True)
    cam = F.relu((ga.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))
    flat = cam.reshape(32, -1)
    heat = (flat / (flat.max(dim=1, keepdim=True).values + 1e-8)).reshape(cam.shape)
    loss = F.cross_entropy(logits, dy) + 1.0 * ((heat - mask) ** 2).mean()
    loss.backward()
    adam.step()

  return print_result("torch peer", lambda: {
      "peer": "torch", "torch_version": torch.__version__, "threads": args.threads,
      "plain_step_ms": round(timed(plain_step), 3),
      "double_backprop_step_ms": round(timed(double_backprop_step), 3),
      "finetune_plain_step_ms": round(timed(finetune_plain_step), 3),
      "finetune_gradcam_location_step_ms": round(timed(finetune_gradcam_step), 3),
  })


if __name__ == "__main__":
  sys.exit(main())
