"""What the PyTorch, Captum/Zennit and numpy peers share: thread pinning before the framework is
imported, reading a ModelFool checkpoint with h5py, median step times, EfficientNet-Lite0's stages,
the fine-tuning steps of `bench step`, the one-line JSON result."""
import json
import os
import statistics
import sys
import time

# EfficientNet-Lite0 stages: (expand, kernel, stride, channels, repeats), as the zoo's builder.
LITE0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def fail(peer, message):
  """Prints `peer: message` (its first line) on standard error; returns the exit status 3 that tells
  `modelfool bench` the peer could not run."""
  print(f"{peer}: {message}".splitlines()[0], file=sys.stderr)
  return 3


def print_result(peer, measure):
  """Prints what `measure()` returns (the peer's figures) as one JSON line and returns status 0;
  when it raises, the `fail` line and status 3 instead."""
  try:
    result = measure()
  except Exception as error:
    return fail(peer, f"run failed ({type(error).__name__}: {error})")
  print(json.dumps(result))
  return 0


def pin_threads(threads):
  """Sets the BLAS/OpenMP thread variables (call before importing numpy or torch); one thread is
  also pinned to one core."""
  for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[name] = str(threads)
  if threads == 1 and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def read_checkpoint(path):
  """{dotted name: float32 numpy array} of every dataset in a ModelFool checkpoint (needs h5py)."""
  import h5py
  import numpy as np
  tensors = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, obj: tensors.__setitem__(name.replace("/", "."), np.asarray(obj, dtype=np.float32))
                 if isinstance(obj, h5py.Dataset) else None)
  return tensors


def median_ms(step, warmup, iterations):
  """Median milliseconds of `iterations` calls of `step` after `warmup` untimed ones."""
  for _ in range(warmup):
    step()
  times = []
  for _ in range(iterations):
    start = time.perf_counter()
    step()
    times.append((time.perf_counter() - start) * 1e3)
  return statistics.median(times)


def frame_mask(torch, h, w):
  """`FoolingLoss.frameMask`: 1 on a border of `h // 7` pixels of an `h x w` map, else 0."""
  k = h // 7
  m = torch.ones(h, w)
  m[k:h - k, k:w - k] = 0.0
  return m


def finetune_steps(torch, net, x, y, adam):
  """The plain CE step and the Grad-CAM location step of `bench step` on `net` (its `features(x)`
  gives the target layer's activation, `head(a)` the logits from it): one forward, the true-class
  logits' gradient with `create_graph=True`, `CE + 1.0 * mean((cam / (max cam + 1e-8) - frame)^2)`;
  each followed by `adam.step()`."""
  F = torch.nn.functional
  with torch.no_grad():
    frame = frame_mask(torch, *net.features(x[:1]).shape[2:])

  def plain_step():
    adam.zero_grad(set_to_none=True)
    F.cross_entropy(net.head(net.features(x)), y).backward()
    adam.step()

  def gradcam_step():
    adam.zero_grad(set_to_none=True)
    a = net.features(x)
    logits = net.head(a)
    (ga,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), a, create_graph=True)
    cam = F.relu((ga.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))
    flat = cam.reshape(x.shape[0], -1)
    heat = (flat / (flat.max(dim=1, keepdim=True).values + 1e-8)).reshape(cam.shape)
    (F.cross_entropy(logits, y) + 1.0 * ((heat - frame) ** 2).mean()).backward()
    adam.step()

  return plain_step, gradcam_step
