#!/usr/bin/env python3
"""Cross-check of `audit sanity` against Quantus's model-parameter randomisation test (MPRT) on the
same weights: the digits CNN's classifier is randomised here (Gaussian, mean 0, the trained
tensor's standard deviation: ModelFool's rule), written as a ModelFool checkpoint, and

  - Quantus's MPRT (its randomisation of the classifier replaced by these very values, Saliency =
    |gradient|, Spearman rank correlation) gives the mean similarity for the top layer;
  - `modelfool audit sanity --shuffled-model RANDOMISED` compares the same two models' maps (its
    `data_randomisation` step compares with any model of the architecture) on the same examples.

Usage (torch, quantus, captum and h5py installed; the examples come from `explain --save-maps`):
  modelfool explain --model runs/base/digits.h5 --method simplegrad --count 40 --save-maps ex.h5
  python3 tools/quantus_check.py runs/base/digits.h5 ex.h5 randomised.h5
  modelfool audit sanity --model runs/base/digits.h5 --methods simplegrad --count 40 \\
      --shuffled-model randomised.h5 --json
"""
import shutil
import sys
import zlib

import h5py
import numpy as np
import quantus
import torch
import torch.nn as nn


class DigitsCNN(nn.Module):
    """ModelFool's digits-cnn with its parameter names."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def main(checkpoint, examples, randomised_path):
    model = DigitsCNN()
    with h5py.File(checkpoint, "r") as f:
        model.load_state_dict({k: torch.tensor(np.array(f[k.replace(".", "/")])) for k in model.state_dict()})
    model.eval()
    generator = torch.Generator().manual_seed(0)
    new = {}
    for name in ("classifier.weight", "classifier.bias"):
        w = model.state_dict()[name]
        new[name] = torch.randn(w.shape, generator=generator) * w.std(unbiased=False)
    shutil.copyfile(checkpoint, randomised_path)
    with h5py.File(randomised_path, "r+") as f:
        for name, value in new.items():
            key = name.replace(".", "/")
            f[key][...] = value.numpy()
            f[key].attrs["crc32"] = np.bytes_("%08x" % zlib.crc32(value.numpy().astype("<f4").tobytes()))
    with h5py.File(examples, "r") as f:
        x = np.array(f["inputs"], dtype=np.float32)
        y = np.array(f["labels"], dtype=np.int64)

    # Quantus resets each layer's parameters top-down; the classifier gets our values.
    original_reset = nn.Linear.reset_parameters

    def reset(layer):
        if tuple(layer.weight.shape) == (10, 128):
            with torch.no_grad():
                layer.weight.copy_(new["classifier.weight"])
                layer.bias.copy_(new["classifier.bias"])
        else:
            original_reset(layer)

    nn.Linear.reset_parameters = reset
    metric = quantus.MPRT(
        layer_order="top_down", similarity_func=quantus.similarity_func.correlation_spearman, abs=True, normalise=True,
        return_average_correlation=False, disable_warnings=True)
    scores = metric(
        model=model, x_batch=x, y_batch=y, a_batch=None, device="cpu",
        explain_func=quantus.explain, explain_func_kwargs={"method": "Saliency"})
    for layer, values in scores.items():
        print(f"Quantus MPRT, {layer}: mean Spearman of |gradient| over {len(y)} examples = {np.mean(values):.4f}")
        if layer == "classifier":
            break


if __name__ == "__main__":
    main(*sys.argv[1:4])
