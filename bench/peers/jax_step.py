#!/usr/bin/env python3
"""JAX peer of ModelFool's reference training-step benchmark (CPU, one thread).

Workload (same math as `modelfool bench`):
  batch 32 of 32x32x3 inputs; conv3x3 3->16 (+bias, pad 1), ReLU, conv3x3 16->32 (+bias, pad 1),
  ReLU, global average pool, dense 32->10.
  (a) plain step:           loss = CE(logits, y), SGD (lr 0.01) on all weights.
  (b) double-backprop step: loss = CE + 1.0 * MSE(h, t), where
        g = d/dx sum_i logits[i, y_i]              (input gradient of the true-class logit)
        h = sum_c |g|  -> [32, 32, 32], h <- h / (sum_hw h + 1e-8)   (per image)
        t = centre square (rows/cols 8..<24) = 1, else 0, normalised to sum 1 per image,
      SGD (lr 0.01) on all weights (gradient through the input gradient: double backprop).

JAX's layout is NHWC / HWIO by default (XLA's preferred CPU layout; --layout nchw for OIHW/NCHW);
the math equals the NCHW engine's either way.
Output: one JSON line {"peer": "jax", "jax_version", "plain_step_ms", "double_backprop_step_ms",
"threads": 1} with per-iteration medians. Exit status 3 (one-line reason on stderr) when JAX is
missing or cannot run.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse_args():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--iterations", type=int, default=20, help="timed steps per variant (default 20)")
  p.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation (default 3)")
  p.add_argument("--json", action="store_true", help="print only the JSON line (default also)")
  p.add_argument("--layout", choices=("nhwc", "nchw"), default="nhwc",
                 help="JAX tensor layout (same math either way; default nhwc, XLA's CPU layout)")
  p.add_argument("--core", type=int, default=None,
                 help="CPU core to pin to (default: the first core this process may use)")
  return p.parse_args()


def pin_single_thread(core):
  """Restrict XLA to one thread and this process to one core; must run before importing jax."""
  os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"
  if hasattr(os, "sched_setaffinity"):
    allowed = sorted(os.sched_getaffinity(0))
    target = core if core is not None else allowed[0]
    os.sched_setaffinity(0, {target})


def main():
  args = parse_args()
  if args.iterations < 1 or args.warmup < 0:
    print("jax peer: --iterations must be >= 1 and --warmup >= 0", file=sys.stderr)
    return 2
  pin_single_thread(args.core)
  try:
    import jax
    import jax.numpy as jnp
    from jax import lax
  except Exception as error:  # ImportError, or a broken jaxlib install
    print(f"jax peer: cannot import jax ({type(error).__name__}: {error})".splitlines()[0],
          file=sys.stderr)
    return 3

  batch, size, classes, lr, lam = 32, 32, 10, 0.01, 1.0
  nchw = args.layout == "nchw"
  dims = ("NCHW", "OIHW", "NCHW") if nchw else ("NHWC", "HWIO", "NHWC")
  spatial, channel = ((2, 3), 1) if nchw else ((1, 2), 3)
  bias_shape = (lambda c: (c, 1, 1)) if nchw else (lambda c: (c,))

  def conv_weight(key, cin, cout):
    shape = (cout, cin, 3, 3) if nchw else (3, 3, cin, cout)
    return he(key, shape, cin * 9)

  def he(key, shape, fan_in):
    return jax.random.normal(key, shape, jnp.float32) * jnp.sqrt(2.0 / fan_in)

  k = jax.random.split(jax.random.PRNGKey(0), 5)
  params = {
      "w1": conv_weight(k[0], 3, 16), "b1": jnp.zeros(bias_shape(16), jnp.float32),
      "w2": conv_weight(k[1], 16, 32), "b2": jnp.zeros(bias_shape(32), jnp.float32),
      "w3": he(k[2], (32, classes), 32), "b3": jnp.zeros((classes,), jnp.float32),
  }
  x = jax.random.normal(k[3], (batch, 3, size, size) if nchw else (batch, size, size, 3),
                        jnp.float32)
  y = jax.random.randint(k[4], (batch,), 0, classes)
  inside = jnp.zeros((size, size), jnp.float32).at[8:24, 8:24].set(1.0)
  target = jnp.broadcast_to(inside / inside.sum(), (batch, size, size))

  def forward(p, inputs):
    h = lax.conv_general_dilated(inputs, p["w1"], (1, 1), ((1, 1), (1, 1)),
                                 dimension_numbers=dims) + p["b1"]
    h = jax.nn.relu(h)
    h = lax.conv_general_dilated(h, p["w2"], (1, 1), ((1, 1), (1, 1)),
                                 dimension_numbers=dims) + p["b2"]
    h = jax.nn.relu(h)
    h = jnp.mean(h, axis=spatial)
    return h @ p["w3"] + p["b3"]

  def cross_entropy(logits, labels):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

  def plain_loss(p, inputs, labels):
    return cross_entropy(forward(p, inputs), labels)

  def double_backprop_loss(p, inputs, labels, t):
    # One forward pass, shared by the CE term and the input-gradient (saliency) term.
    logits, pullback = jax.vjp(lambda xx: forward(p, xx), inputs)
    (g,) = pullback(jax.nn.one_hot(labels, classes, dtype=logits.dtype))
    h = jnp.sum(jnp.abs(g), axis=channel)  # -> [B, H, W]
    h = h / (jnp.sum(h, axis=(1, 2), keepdims=True) + 1e-8)
    return cross_entropy(logits, labels) + lam * jnp.mean((h - t) ** 2)

  def sgd(p, grads):
    return jax.tree_util.tree_map(lambda w, g: w - lr * g, p, grads)

  @jax.jit
  def plain_step(p, inputs, labels):
    loss, grads = jax.value_and_grad(plain_loss)(p, inputs, labels)
    return sgd(p, grads), loss

  @jax.jit
  def double_backprop_step(p, inputs, labels, t):
    loss, grads = jax.value_and_grad(double_backprop_loss)(p, inputs, labels, t)
    return sgd(p, grads), loss

  def timed(step, *rest):
    p = params
    for _ in range(args.warmup + 1):  # the first call compiles
      p, loss = step(p, *rest)
      jax.block_until_ready((p, loss))
    times = []
    for _ in range(args.iterations):
      start = time.perf_counter()
      p, loss = step(p, *rest)
      jax.block_until_ready((p, loss))
      times.append((time.perf_counter() - start) * 1e3)
    if not bool(jnp.isfinite(loss)):
      raise FloatingPointError(f"non-finite loss {float(loss)}")
    return statistics.median(times)

  try:
    plain_ms = timed(plain_step, x, y)
    double_ms = timed(double_backprop_step, x, y, target)
  except Exception as error:
    print(f"jax peer: run failed ({type(error).__name__}: {error})".splitlines()[0], file=sys.stderr)
    return 3
  print(json.dumps({
      "peer": "jax",
      "jax_version": jax.__version__,
      "plain_step_ms": round(plain_ms, 3),
      "double_backprop_step_ms": round(double_ms, 3),
      "threads": 1,
      "layout": args.layout,
  }))
  return 0


if __name__ == "__main__":
  sys.exit(main())
