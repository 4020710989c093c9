#!/usr/bin/env python3
"""Writes the ONNX fixtures of ONNXReaderTests, GraphNetworkTests and the CLI's import tests.

  onnx_tiny_cnn_op13.onnx, onnx_tiny_cnn_op18.onnx
      TinyNet below (seeded weights, BatchNorm statistics set to non-trivial values), exported by
      torch.onnx.export (TorchScript exporter) at opsets 13 and 18 with a dynamic batch axis.
      Ops: Conv (groups, dilations, stride 2, BatchNorm folded in by the exporter), Relu, LeakyRelu,
      MaxPool, Add (residual), BatchNormalization (after the addition, not foldable), Concat,
      HardSwish, Clip (ReLU6), HardSigmoid, Sigmoid, Mul, ReduceMean (axes attribute at 13, input at
      18), Pad, AveragePool (count_include_pad=0), GlobalAveragePool, Shape/Gather/Unsqueeze/Concat/
      Reshape (x.view(x.size(0), -1)), Gemm, Sub/Div (input normalisation inside the model).
  onnx_tiny_cnn_dynamo_op18.onnx, onnx_tiny_cnn_dynamo_op23.onnx
      the same network through the dynamo exporter (torch.onnx.export(..., dynamo=True), needs
      onnxscript) at opsets 18 and 23. It writes the BatchNorm before the residual into the Conv and
      keeps the one after it as BatchNormalization, folds F.pad into the next Conv's pads, writes
      every mean and the global pooling as ReduceMean with an axes initializer, and the flattening
      as one Reshape with a constant [-1, 192] (no shape arithmetic); its tensor names are its own
      (`conv2d_7`), the initializers keep the state-dict names. PyTorch 2.15's dynamo exporter
      implements opset 18 and later only: asked for opset 13, it exports at 18 and tries ONNX's
      version converter, which fails on every graph tried here (no down-conversion adapter for
      Identity 16, present before its optimiser runs, nor for BatchNormalization 15 or Pad 18),
      and it then keeps opset 18. The script checks that (a request for 13 gives an opset-18
      file) and keeps no separate file for it; should a later PyTorch write opset 13, it keeps
      onnx_tiny_cnn_dynamo_op13.onnx and its logits under "dynamo_op13".
  onnx_writer_digits.onnx
      written by ModelFool's own writer: the network of make_export_check.py's DigitsCNN with
      channels 4, 8, 8 and seeded weights, saved as safetensors, imported (`modelfool import --from
      FILE.safetensors --arch digits-cnn --option channels=4,8,8`) and exported (`modelfool export
      --to FILE.onnx`); needs the modelfool binary (MODELFOOL, default .build/release/modelfool).
  onnx_tiny_cnn_reference.json
      {"input_shape", "input" (2 images, values in [0, 1)), "op13", "op18", "dynamo_op18",
       "dynamo_op23" (onnxruntime's logits of each file), "torch" (PyTorch's logits),
       "writer": {"input_shape", "input" (2 digit-sized images in [0, 1)), "onnxruntime",
       "torch"}}.
  onnx_tiny_cnn_classes.json   five class names.
  onnx_digits_op18.onnx        a 426-parameter CNN for the digits data set ([1, 28, 28], 10 classes;
                               Conv, Relu, MaxPool, GlobalAveragePool, Flatten, Gemm), for the CLI's
                               finetune, evaluate --fsr and attack-input runs on an ONNX model.
  onnx_hostile_*.onnx          each must be refused with a one-line error:
      cycle (two Relu nodes reading each other), undefined (a node reads a tensor nobody makes),
      huge (an initializer with dims 2^20 x 2^20 and 4 bytes of raw data), unsupported (an Einsum
      node), subgraph (a Relu node with a graph attribute), external_missing (an initializer whose
      data is in "absent.bin"), external_escape (an initializer whose data is in "../outside.bin").

Usage: [MODELFOOL=BINARY] PYTHONPATH=DIR python3 Tests/Fixtures/make_onnx_fixtures.py [output folder]
       (DIR holds torch, onnx, onnxscript, onnxruntime and safetensors; the files are committed, so
       tests need none of them)
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELFOOL = os.environ.get("MODELFOOL", os.path.join(ROOT, ".build", "release", "modelfool"))


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(8)
        self.block_a = nn.Conv2d(8, 8, 3, padding=1)
        self.block_b = nn.Conv2d(8, 8, 3, padding=1)
        self.post_bn = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.pointwise = nn.Conv2d(8, 6, 1)
        self.se_reduce = nn.Conv2d(14, 4, 1)
        self.se_expand = nn.Conv2d(4, 14, 1)
        self.down = nn.Conv2d(14, 12, 3, stride=2)
        self.fc = nn.Linear(12 * 4 * 4, 5)

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.relu(self.stem_bn(self.stem(x)))
        x = F.max_pool2d(x, 2)                       # 8x8
        r = F.leaky_relu(self.block_a(x), 0.1)
        x = self.post_bn(x + self.block_b(r))        # BatchNormalization after the residual Add
        x = F.relu(x)
        d = F.hardswish(self.depthwise(x))
        p = torch.clamp(self.pointwise(x), 0, 6)
        x = torch.cat([d, p], dim=1)                 # 14 channels
        s = x.mean(dim=[2, 3], keepdim=True)
        s = F.hardsigmoid(self.se_reduce(s))
        x = x * torch.sigmoid(self.se_expand(s))
        x = F.pad(x, (1, 1, 1, 1))                   # 10x10
        x = self.down(x)                             # 4x4
        x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = x + F.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


def tiny_net():
    torch.manual_seed(3)
    net = TinyNet()
    with torch.no_grad():
        for bn in (net.stem_bn, net.post_bn):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return net.eval()


def onnxruntime_logits(path, x):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def describe(path):
    model = onnx.load(path)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{os.path.basename(path)}: opset {opset}, {os.path.getsize(path)} bytes, ops {ops}")
    return opset


def export_cnn():
    net = tiny_net()
    rng = np.random.default_rng(11)
    x = rng.random((2, 3, 16, 16), dtype=np.float32)
    reference = {"input_shape": [2, 3, 16, 16], "input": x.ravel().tolist()}
    with torch.no_grad():
        reference["torch"] = net(torch.from_numpy(x)).numpy().tolist()
    for opset in (13, 18):
        path = os.path.join(OUT, f"onnx_tiny_cnn_op{opset}.onnx")
        torch.onnx.export(
            net, torch.from_numpy(x), path, opset_version=opset, input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
        assert describe(path) == opset
        reference[f"op{opset}"] = onnxruntime_logits(path, x).tolist()
    for opset in (13, 18, 23):
        path = os.path.join(OUT, f"onnx_tiny_cnn_dynamo_op{opset}.onnx")
        torch.onnx.export(
            net, (torch.from_numpy(x),), path, opset_version=opset, input_names=["image"], output_names=["logits"],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True, external_data=False)
        written = describe(path)
        if written != opset:
            assert opset < 18 and written == 18, f"dynamo exporter asked for opset {opset} wrote {written}"
            print(f"dynamo exporter: opset {opset} asked, {written} written (its version conversion failed); not kept")
            os.remove(path)
            continue
        reference[f"dynamo_op{opset}"] = onnxruntime_logits(path, x).tolist()
    reference["writer"] = export_writer_digits()
    with open(os.path.join(OUT, "onnx_tiny_cnn_reference.json"), "w") as f:
        json.dump(reference, f)
    with open(os.path.join(OUT, "onnx_tiny_cnn_classes.json"), "w") as f:
        json.dump(["ant", "bee", "cat", "dog", "eel"], f)


def export_writer_digits():
    """onnx_writer_digits.onnx: ModelFool's writer on a digits CNN with channels 4, 8, 8."""
    from safetensors.torch import save_file
    torch.manual_seed(5)
    c = (4, 8, 8)
    features = nn.Sequential(nn.Conv2d(1, c[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(c[0], c[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(c[1], c[2], 3, padding=1), nn.ReLU())
    classifier = nn.Linear(c[2], 10)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state.update({f"classifier.{k}": v for k, v in classifier.state_dict().items()})
    path = os.path.join(OUT, "onnx_writer_digits.onnx")
    with tempfile.TemporaryDirectory() as work:
        save_file(state, os.path.join(work, "digits.safetensors"))
        for args in (["import", "--from", "digits.safetensors", "--arch", "digits-cnn", "--option", "channels=4,8,8",
                      "--out", "digits.h5"],
                     ["export", "--model", "digits.h5", "--to", "digits.onnx"]):
            subprocess.run([MODELFOOL] + args + ["--datasets-root", os.path.join(ROOT, "datasets")], cwd=work, check=True,
                           capture_output=True)
        os.replace(os.path.join(work, "digits.onnx"), path)
    describe(path)
    x = np.random.default_rng(12).random((2, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        pt = classifier(features(torch.from_numpy(x)).mean(dim=(2, 3))).numpy()
    return {"input_shape": [2, 1, 28, 28], "input": x.ravel().tolist(), "onnxruntime": onnxruntime_logits(path, x).tolist(),
            "torch": pt.tolist()}


def export_digits():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(OUT, "onnx_digits_op18.onnx"), opset_version=18,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)


def save_hostile(name, nodes, initializers=(), inputs=None):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])]
    graph = helper.make_graph(
        nodes, name, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(OUT, f"onnx_hostile_{name}.onnx"), "wb") as f:
        f.write(model.SerializeToString())


def external(name, location):
    t = helper.make_tensor(name, TensorProto.FLOAT, [4], [0.0] * 4)
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def export_hostile():
    save_hostile("cycle", [helper.make_node("Relu", ["b"], ["a"], name="first"),
                           helper.make_node("Relu", ["a"], ["b"], name="second"),
                           helper.make_node("Add", ["x", "b"], ["y"], name="out")])
    save_hostile("undefined", [helper.make_node("Add", ["x", "ghost"], ["y"], name="reads_ghost")])
    huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=b"\0\0\0\0")
    save_hostile("huge", [helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [huge])
    save_hostile("unsupported", [helper.make_node("Einsum", ["x"], ["y"], name="mystery", equation="ij->ij")])
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "body", [],
                             [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    save_hostile("subgraph", [helper.make_node("Relu", ["x"], ["y"], name="with_body", body=body)])
    save_hostile("external_missing", [helper.make_node("Add", ["x", "w"], ["y"], name="add_w")],
                 [external("w", "absent.bin")])
    save_hostile("external_escape", [helper.make_node("Add", ["x", "w"], ["y"], name="add_w")],
                 [external("w", "../outside.bin")])


if __name__ == "__main__":
    export_cnn()
    export_digits()
    export_hostile()
