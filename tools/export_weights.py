#!/usr/bin/env python3
"""Export pretrained weights to ModelFool's HDF5 checkpoint layout.

Sources (each needs its framework installed; nothing is downloaded by this script except what
torchvision / keras fetch themselves):
  torchvision  vgg11 vgg16 vgg19 resnet18 resnet50 densenet121   (needs torch + torchvision)
  keras        vgg19 densenet121                                 (needs tensorflow or keras)
  state-dict   any zoo architecture, from a torch.save'd state dict (needs torch)

Layout written (what Sources/Training/ModelIO/Checkpoint.swift reads): one float32 dataset per parameter
and buffer, the dotted name split into groups ("layer1.0.conv1.weight" -> /layer1/0/conv1/weight),
shapes in PyTorch order (convolutions OIHW, dense [out, in]); root attributes (UTF-8 strings)
format="modelfool-checkpoint", format_version="1", architecture, config (JSON object of string
builder options), input_shape (JSON list), class_names (JSON list), metadata (JSON object).
The attributes preprocessing and target_layer are written only when the builder's defaults do
not apply (Keras VGG19: BGR-mean "caffe" input, so the model is built with normalize=false).

  python3 tools/export_weights.py torchvision resnet50 runs/models/resnet50.h5
  python3 tools/export_weights.py keras densenet121 runs/models/densenet121-keras.h5
  python3 tools/export_weights.py state-dict resnet18 runs/models/r18.h5 --state-dict r18.pth
"""
import argparse
import json
import os
import sys

import numpy as np

TORCHVISION = ["vgg11", "vgg16", "vgg19", "resnet18", "resnet50", "densenet121"]
KERAS = ["vgg19", "densenet121"]


def fail(message):
    sys.exit(f"export_weights.py: {message}")


def write_checkpoint(state, architecture, path, config=None, class_names=None, metadata=None,
                     preprocessing=None, target_layer=None, input_shape=(3, 224, 224)):
    """Writes `state` (name -> array, PyTorch layout) in ModelFool's HDF5 checkpoint layout."""
    try:
        import h5py
    except ImportError:
        fail("h5py is needed to write HDF5 (pip install h5py)")
    config = {"classes": "1000", **(config or {})}
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for name, value in state.items():
            array = np.array(value, dtype=np.float32, order="C")  # keeps 0-d (num_batches_tracked) 0-d
            if not np.all(np.isfinite(array)):
                fail(f"{name} holds NaN or infinite values")
            f.create_dataset("/" + name.replace(".", "/"), data=array)
        attrs = {
            "format": "modelfool-checkpoint", "format_version": "1", "architecture": architecture,
            "config": json.dumps(config, sort_keys=True), "input_shape": json.dumps(list(input_shape)),
            "class_names": json.dumps(list(class_names or [])),
            "metadata": json.dumps(metadata or {}, sort_keys=True),
        }
        if preprocessing is not None:
            attrs["preprocessing"] = preprocessing
        if target_layer is not None:
            attrs["target_layer"] = target_layer
        for key, value in attrs.items():
            f.attrs[key] = value  # h5py stores str as a variable-length UTF-8 string
    os.replace(tmp, path)
    print(f"wrote {len(state)} tensors ({architecture}) to {path}")


def torch_state_dict(module):
    return {k: v.detach().cpu().float().numpy() for k, v in module.state_dict().items()}


def from_torchvision(name):
    try:
        import torchvision
    except ImportError:
        fail("torchvision is not installed (pip install torch torchvision)")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    model = torchvision.models.get_model(name, weights=weights)
    names = weights.meta.get("categories", [])
    return torch_state_dict(model), {}, names, {"source": f"torchvision {torchvision.__version__} {weights}"}


def from_state_dict(path):
    try:
        import torch
    except ImportError:
        fail("torch is needed to read a state dict (pip install torch)")
    state = torch.load(path, map_location="cpu")
    state = state.get("state_dict", state)
    return {k: v.float().numpy() for k, v in state.items()}


def keras_app(name):
    try:
        from tensorflow import keras
    except ImportError:
        try:
            import keras
        except ImportError:
            fail("keras export needs tensorflow or keras (pip install tensorflow)")
    if name == "vgg19":
        return keras.applications.VGG19(weights="imagenet")
    return keras.applications.DenseNet121(weights="imagenet")


def conv_kernel(k):  # Keras HWIO -> OIHW
    return np.transpose(k, (3, 2, 0, 1))


def from_keras(name):
    """Keras applications -> torchvision-style names used by the zoo builders."""
    model = keras_app(name)
    layers = {layer.name: layer.get_weights() for layer in model.layers}
    state = {}
    if name == "vgg19":
        index = 0
        for block, convs in enumerate([2, 2, 4, 4, 4], start=1):
            for c in range(1, convs + 1):
                k, b = layers[f"block{block}_conv{c}"]
                if index == 0:
                    k = k[:, :, ::-1, :]  # Keras VGG takes BGR: flip input channels so ours takes RGB
                state[f"features.{index}.weight"] = conv_kernel(k)
                state[f"features.{index}.bias"] = b
                index += 2
            index += 1  # the max-pool
        k, b = layers["fc1"]  # rows in NHWC flatten order (7, 7, 512) -> ours NCHW (512, 7, 7)
        k = k.reshape(7, 7, 512, -1).transpose(2, 0, 1, 3).reshape(25088, -1)
        state["classifier.0.weight"], state["classifier.0.bias"] = k.T, b
        k, b = layers["fc2"]
        state["classifier.3.weight"], state["classifier.3.bias"] = k.T, b
        k, b = layers["predictions"]
        state["classifier.6.weight"], state["classifier.6.bias"] = k.T, b
        # "caffe" preprocessing: RGB 0..255 minus the channel means, no scaling.
        prep = ("scale=1; resize=256; crop=224; then normalize mean=123.68,116.779,103.939 std=1,1,1 "
                "(not inside model)")
        return state, {"normalize": "false"}, prep
    # DenseNet121: "torch" preprocessing, the same as torchvision's; BN eps 1.001e-5 (ours 1e-5).
    def bn(src, dst):
        gamma, beta, mean, var = layers[src]
        state.update({f"{dst}.weight": gamma, f"{dst}.bias": beta, f"{dst}.running_mean": mean,
                      f"{dst}.running_var": var, f"{dst}.num_batches_tracked": np.zeros((), np.float32)})
    state["features.conv0.weight"] = conv_kernel(layers["conv1/conv"][0])
    bn("conv1/bn", "features.norm0")
    for block, count in enumerate([6, 12, 24, 16], start=1):
        for i in range(1, count + 1):
            src, dst = f"conv{block + 1}_block{i}", f"features.denseblock{block}.denselayer{i}"
            bn(f"{src}_0_bn", f"{dst}.norm1")
            state[f"{dst}.conv1.weight"] = conv_kernel(layers[f"{src}_1_conv"][0])
            bn(f"{src}_1_bn", f"{dst}.norm2")
            state[f"{dst}.conv2.weight"] = conv_kernel(layers[f"{src}_2_conv"][0])
        if block < 4:
            bn(f"pool{block + 1}_bn", f"features.transition{block}.norm")
            state[f"features.transition{block}.conv.weight"] = conv_kernel(layers[f"pool{block + 1}_conv"][0])
    bn("bn", "features.norm5")
    k, b = layers["predictions"]
    state["classifier.weight"], state["classifier.bias"] = k.T, b
    return state, {}, None


def main():
    ap = argparse.ArgumentParser(description="Export pretrained weights to ModelFool's HDF5 checkpoint layout.")
    ap.add_argument("source", choices=["torchvision", "keras", "state-dict"])
    ap.add_argument("architecture", help="zoo architecture name")
    ap.add_argument("output", help="checkpoint path (.h5)")
    ap.add_argument("--state-dict", help="torch.save'd state dict (source state-dict)")
    ap.add_argument("--class-names", help="JSON list of class names (default: the source's, if any)")
    ap.add_argument("--classes", default="1000", help="output classes (builder option)")
    a = ap.parse_args()
    names, metadata, config, prep = [], {}, {"classes": a.classes}, None
    if a.source == "torchvision":
        if a.architecture not in TORCHVISION:
            fail(f"torchvision export supports {', '.join(TORCHVISION)}")
        state, extra, names, metadata = from_torchvision(a.architecture)
        config.update(extra)
    elif a.source == "keras":
        if a.architecture not in KERAS:
            fail(f"keras export supports {', '.join(KERAS)} (Keras ResNet50 is v1, stride on the 1x1 conv, "
                 "which is not torchvision's v1.5 resnet50)")
        state, extra, prep = from_keras(a.architecture)
        config.update(extra)
        metadata = {"source": f"keras.applications {a.architecture} imagenet"}
    else:
        if not a.state_dict:
            fail("source state-dict needs --state-dict FILE")
        state = from_state_dict(a.state_dict)
        metadata = {"source": os.path.abspath(a.state_dict)}
    if a.class_names:
        with open(a.class_names) as f:
            names = json.load(f)
    write_checkpoint(state, a.architecture, a.output, config=config, class_names=names, metadata=metadata,
                     preprocessing=prep)


if __name__ == "__main__":
    main()
