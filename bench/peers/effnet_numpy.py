#!/usr/bin/env python3
"""Numpy reference forward pass of EfficientNet-Lite0, for timing against ModelFool.

Loads the weights from a ModelFool HDF5 checkpoint (written by `modelfool import`; needs h5py)
and runs the same network in float32 numpy, single-threaded: TensorFlow "SAME" padding
(extra row/column at the bottom/right), BatchNorm eps 1e-3 in inference form, ReLU6, no
squeeze-excite, residual when stride 1 and channels agree, global mean, dense.
Dense convolutions go through im2col + matmul (1x1 ones are plain matmuls); depthwise ones
accumulate k*k shifted slices times per-channel weights (depthwise im2col without the copy).

  python3 bench/peers/effnet_numpy.py [--checkpoint runs/models/efficientnet-lite0.h5]
      [--iterations 20] [--inputs FILE.h5] [--json]

--inputs: an HDF5 file with a float32 'inputs' dataset [N, 3, 224, 224] (RGB in [0, 1]); the
logits are written next to it as dataset 'numpy_logits' of a copy FILE.numpy.h5 for comparison.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from peer_common import LITE0_STAGES as STAGES  # noqa: E402


def load(path):
    try:
        import h5py
    except ImportError:
        sys.exit("effnet_numpy.py needs h5py to read the checkpoint (pip install h5py)")
    params = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                params[name.replace("/", ".")] = np.asarray(obj, dtype=np.float32)
        f.visititems(visit)
    return params


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def pad_same(x, k, s):
    t, b = same_pads(x.shape[2], k, s)
    l, r = same_pads(x.shape[3], k, s)
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r))), (x.shape[2] + s - 1) // s, (x.shape[3] + s - 1) // s


def conv_dense(x, w, s):
    """NCHW x OIHW, SAME padding, via im2col + one matmul per image."""
    o, c, k, _ = w.shape
    n = x.shape[0]
    if k == 1 and s == 1:
        return np.matmul(w.reshape(o, c), x.reshape(n, c, -1)).reshape(n, o, x.shape[2], x.shape[3])
    xp, oh, ow = pad_same(x, k, s)
    cols = np.empty((n, c, k, k, oh, ow), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i:i + s * oh:s, j:j + s * ow:s]
    return np.matmul(w.reshape(o, -1), cols.reshape(n, c * k * k, oh * ow)).reshape(n, o, oh, ow)


def conv_depthwise(x, w, s):
    """Depthwise conv (w: [C, 1, k, k]), SAME padding."""
    k = w.shape[2]
    xp, oh, ow = pad_same(x, k, s)
    out = np.zeros((x.shape[0], x.shape[1], oh, ow), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            out += xp[:, :, i:i + s * oh:s, j:j + s * ow:s] * w[:, 0, i, j][None, :, None, None]
    return out


class Net:
    def __init__(self, p):
        self.p = p
        self.bn = {}
        for name in {k.rsplit(".", 1)[0] for k in p if k.endswith("running_var")}:
            scale = p[name + ".weight"] / np.sqrt(p[name + ".running_var"] + 1e-3)
            self.bn[name] = (scale[None, :, None, None].astype(np.float32),
                             (p[name + ".bias"] - p[name + ".running_mean"] * scale)[None, :, None, None].astype(np.float32))

    def bn_act(self, x, name, act=True):
        scale, shift = self.bn[name]
        y = x * scale + shift
        return np.clip(y, 0, 6, out=y) if act else y

    def __call__(self, x):
        p = self.p
        x = (x * 255 - 127) / 128
        x = self.bn_act(conv_dense(x, p["_conv_stem.weight"], 2), "_bn0")
        b, channels = 0, 32
        for expand, k, stride, out_c, repeats in STAGES:
            for r in range(repeats):
                s = stride if r == 0 else 1
                pre = f"_blocks.{b}."
                h = x
                if expand != 1:
                    h = self.bn_act(conv_dense(h, p[pre + "_expand_conv.weight"], 1), pre + "_bn0")
                h = self.bn_act(conv_depthwise(h, p[pre + "_depthwise_conv.weight"], s), pre + "_bn1")
                h = self.bn_act(conv_dense(h, p[pre + "_project_conv.weight"], 1), pre + "_bn2", act=False)
                x = x + h if (s == 1 and channels == out_c) else h
                channels = out_c
                b += 1
        x = self.bn_act(conv_dense(x, p["_conv_head.weight"], 1), "_bn1")
        x = x.mean(axis=(2, 3))
        return x @ p["_fc.weight"].T + p["_fc.bias"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default="runs/models/efficientnet-lite0.h5")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--inputs")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(a.checkpoint):
        sys.exit(f"{a.checkpoint} not found: run `modelfool import` (or `make import`) first")
    net = Net(load(a.checkpoint))
    if a.inputs:
        import h5py
        with h5py.File(a.inputs, "r") as f:
            xs = np.asarray(f["inputs"], dtype=np.float32)
        logits = net(xs)
        with h5py.File(a.inputs + ".numpy.h5", "w") as f:
            f["numpy_logits"] = logits
        print(json.dumps({"top1": logits.argmax(1).tolist()}))
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    net(x)
    times = []
    for _ in range(a.iterations):
        t = time.perf_counter()
        net(x)
        times.append((time.perf_counter() - t) * 1000)
    result = {"forward_ms": float(np.median(times)), "min_ms": float(np.min(times)), "iterations": a.iterations,
              "numpy": np.__version__}
    print(json.dumps(result) if a.json else f"numpy EfficientNet-Lite0 forward, 1x3x224x224, 1 thread: "
          f"median {result['forward_ms']:.2f} ms (min {result['min_ms']:.2f} ms)")


if __name__ == "__main__":
    main()
