#!/usr/bin/env python3
"""PyTorch eager peer of the fine-tuning step of `modelfool bench step --finetune-model zoo:ARCH`
for the paper's networks (VGG-11/16/19, ResNet-18/50, DenseNet-121), torchvision-free.

Each network is the zoo builder's, written here in torch.nn.functional with seeded random weights
(step time does not depend on the weights' values): ImageNet normalisation inside the model,
torchvision's layout, BatchNorm in inference form (running statistics fixed, scale and shift
trained, as `setTraining(false)` in fine-tuning), dropout off.

Steps, as `FineTuneBenchmark.stepTimes` takes them: a batch of `--batch` (default 2) seeded
uniform 3x224x224 inputs, labels `i % 1000`, Adam lr 1e-4 over every trained tensor;
- plain: `CE(logits, y)`;
- Grad-CAM location: `CE + 1.0 * mean((cam / (max cam + 1e-8) - frame)^2)`, Grad-CAM at the
  model's target layer (VGG: the input of the last max-pool, 512x14x14; ResNet: the last stage's
  output; DenseNet: the input of the global pool) from one forward, the true-class logits'
  gradient with `create_graph=True`; `frame` is `FoolingLoss.frameMask` (1 on a border of
  `height / 7` pixels).

  python3 bench/peers/torch_zoo_step.py --arch resnet50 [--threads 1] [--iterations 3]
      [--warmup 1] [--batch 2] [--json]

Output: one JSON line with `zoo_plain_step_ms`, `zoo_gradcam_location_step_ms` and
`peak_rss_mb` (the process's peak resident memory since its exec, VmHWM). Without torch: a one-line reason on stderr
and exit status 3.
"""
import argparse
import resource
import sys

from peer_common import fail as peer_fail, finetune_steps, median_ms, pin_threads, print_result

VGG = {
    11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
}
ARCHS = ["vgg11", "vgg16", "vgg19", "resnet18", "resnet50", "densenet121"]


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--arch", required=True, choices=ARCHS)
  p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
  p.add_argument("--iterations", type=int, default=3, help="timed steps per variant (default 3)")
  p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
  p.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
  p.add_argument("--json", action="store_true", help="print only the JSON line (the default)")
  args = p.parse_args()
  if args.threads < 1 or args.iterations < 1 or args.warmup < 0 or args.batch < 1:
    p.error("--threads, --iterations and --batch must be positive, --warmup not negative")
  return args


def peak_resident_mib():
  """This process's peak resident memory since its exec, MiB (VmHWM). Not ru_maxrss: Linux carries
  the maximum over exec, so a peer started by a large `modelfool bench` process would report the
  parent's resident size at the fork."""
  try:
    with open("/proc/self/status") as status:
      for line in status:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fail(message):
  return peer_fail("torch zoo peer", message)


class Net:
  """A zoo network as functions over a list of trained tensors; `features(x)` returns the target
  layer's activation, `head(a)` the logits from it."""

  def __init__(self, torch, arch):
    self.torch, self.F = torch, torch.nn.functional
    self.generator = torch.Generator().manual_seed(0)
    self.trained = []
    self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    self.arch = arch
    getattr(self, "build_" + arch.rstrip("0123456789"))(int(arch.lstrip("vgresntdi")))

  def tensor(self, *shape, scale=None, fill=None):
    t = self.torch.full(shape, fill) if fill is not None else self.torch.randn(*shape, generator=self.generator) * scale
    t.requires_grad_(True)
    self.trained.append(t)
    return t

  def conv(self, cin, cout, k, bias=False):
    w = self.tensor(cout, cin, k, k, scale=(2.0 / (cout * k * k)) ** 0.5)
    return (w, self.tensor(cout, fill=0.0) if bias else None)

  def bn(self, c):
    return (self.tensor(c, fill=1.0), self.tensor(c, fill=0.0), self.torch.zeros(c), self.torch.ones(c))

  def dense(self, cin, cout):
    return (self.tensor(cout, cin, scale=(1.0 / cin) ** 0.5), self.tensor(cout, fill=0.0))

  def apply_conv(self, x, conv, stride=1, padding=0):
    return self.F.conv2d(x, conv[0], conv[1], stride=stride, padding=padding)

  def apply_bn(self, x, bn):
    weight, bias, mean, var = bn
    return self.F.batch_norm(x, mean, var, weight, bias, training=False, eps=1e-5)

  # VGG: the features up to the last max-pool's input; head = pool, 7x7 average, classifier.
  def build_vgg(self, depth):
    self.convs, channels = [], 3
    for v in VGG[depth]:
      self.convs.append(None if v == 0 else self.conv(channels, v, 3, bias=True))
      channels = v or channels
    self.fc = [self.dense(512 * 49, 4096), self.dense(4096, 4096), self.dense(4096, 1000)]
    self.features_fn = self.vgg_features
    self.head_fn = self.vgg_head

  def vgg_features(self, x):
    for c in self.convs[:-1]:
      x = self.F.max_pool2d(x, 2) if c is None else self.F.relu(self.apply_conv(x, c, padding=1))
    return x

  def vgg_head(self, a):
    a = self.F.adaptive_avg_pool2d(self.F.max_pool2d(a, 2), 7).flatten(1)
    a = self.F.relu(self.F.linear(a, *self.fc[0]))
    a = self.F.relu(self.F.linear(a, *self.fc[1]))
    return self.F.linear(a, *self.fc[2])

  # ResNet: stem, four stages of basic (18) or bottleneck (50) blocks; head = global mean, fc.
  def build_resnet(self, depth):
    bottleneck = depth == 50
    counts, expansion = ([3, 4, 6, 3], 4) if bottleneck else ([2, 2, 2, 2], 1)
    self.stem = (self.conv(3, 64, 7), self.bn(64))
    self.blocks, inplanes = [], 64
    for stage, planes in enumerate([64, 128, 256, 512]):
      for i in range(counts[stage]):
        stride = 2 if i == 0 and stage > 0 else 1
        out = planes * expansion
        if bottleneck:
          body = [(self.conv(inplanes, planes, 1), self.bn(planes), 1, 0), (self.conv(planes, planes, 3), self.bn(planes), stride, 1),
                  (self.conv(planes, out, 1), self.bn(out), 1, 0)]
        else:
          body = [(self.conv(inplanes, planes, 3), self.bn(planes), stride, 1), (self.conv(planes, planes, 3), self.bn(planes), 1, 1)]
        shortcut = (self.conv(inplanes, out, 1), self.bn(out), stride) if stride != 1 or inplanes != out else None
        self.blocks.append((body, shortcut))
        inplanes = out
    self.fc = self.dense(inplanes, 1000)
    self.features_fn = self.resnet_features
    self.head_fn = self.pooled_head

  def resnet_features(self, x):
    conv, bn = self.stem
    x = self.F.max_pool2d(self.F.relu(self.apply_bn(self.apply_conv(x, conv, 2, 3), bn)), 3, 2, 1)
    for body, shortcut in self.blocks:
      h = x
      for j, (conv, bn, stride, pad) in enumerate(body):
        h = self.apply_bn(self.apply_conv(h, conv, stride, pad), bn)
        if j < len(body) - 1:
          h = self.F.relu(h)
      if shortcut is not None:
        conv, bn, stride = shortcut
        x = self.apply_bn(self.apply_conv(x, conv, stride), bn)
      x = self.F.relu(x + h)
    return x

  def pooled_head(self, a):
    return self.F.linear(a.mean(dim=(2, 3)), *self.fc)

  # DenseNet-121: stem, four dense blocks (BN-ReLU-1x1-BN-ReLU-3x3, growth 32) with transitions;
  # the target is the input of the global pool (after the final BN and ReLU).
  def build_densenet(self, _depth):
    growth, channels = 32, 64
    self.stem = (self.conv(3, 64, 7), self.bn(64))
    self.stages = []
    for b, n in enumerate([6, 12, 24, 16]):
      layers = []
      for i in range(n):
        c = channels + i * growth
        layers.append((self.bn(c), self.conv(c, 4 * growth, 1), self.bn(4 * growth), self.conv(4 * growth, growth, 3)))
      channels += n * growth
      transition = None
      if b < 3:
        transition = (self.bn(channels), self.conv(channels, channels // 2, 1))
        channels //= 2
      self.stages.append((layers, transition))
    self.norm5 = self.bn(channels)
    self.fc = self.dense(channels, 1000)
    self.features_fn = self.densenet_features
    self.head_fn = self.pooled_head

  def densenet_features(self, x):
    F = self.F
    conv, bn = self.stem
    x = F.max_pool2d(F.relu(self.apply_bn(self.apply_conv(x, conv, 2, 3), bn)), 3, 2, 1)
    for layers, transition in self.stages:
      features = [x]
      for bn1, conv1, bn2, conv2 in layers:
        h = self.apply_conv(F.relu(self.apply_bn(self.torch.cat(features, 1), bn1)), conv1)
        features.append(self.apply_conv(F.relu(self.apply_bn(h, bn2)), conv2, padding=1))
      x = self.torch.cat(features, 1)
      if transition is not None:
        bn, conv = transition
        x = F.avg_pool2d(self.apply_conv(F.relu(self.apply_bn(x, bn)), conv), 2)
    return F.relu(self.apply_bn(x, self.norm5))

  def features(self, x):
    return self.features_fn((x - self.mean) / self.std)

  def head(self, a):
    return self.head_fn(a)


def main():
  args = parse_args()
  pin_threads(args.threads)
  try:
    import torch
  except ImportError as error:
    return fail(f"{error} (pip install torch)")
  torch.set_num_threads(args.threads)
  net = Net(torch, args.arch)
  generator = torch.Generator().manual_seed(2)
  x = torch.rand(args.batch, 3, 224, 224, generator=generator)
  y = torch.arange(args.batch) % 1000
  adam = torch.optim.Adam(net.trained, lr=1e-4)
  plain_step, gradcam_step = finetune_steps(torch, net, x, y, adam)

  def measure():
    plain = median_ms(plain_step, args.warmup, args.iterations)
    gradcam = median_ms(gradcam_step, args.warmup, args.iterations)
    return {
        "peer": "torch", "torch_version": torch.__version__, "arch": args.arch, "threads": args.threads,
        "batch": args.batch, "zoo_plain_step_ms": round(plain, 2), "zoo_gradcam_location_step_ms": round(gradcam, 2),
        "peak_rss_mb": round(peak_resident_mib(), 1),
    }

  return print_result("torch zoo peer", measure)


if __name__ == "__main__":
  sys.exit(main())
