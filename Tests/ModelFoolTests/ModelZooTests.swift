import ModelFool
import Testing

/// Parameter shapes by name.
private func shapes(_ m: Model) -> [String: [Int]] {
  Dictionary(uniqueKeysWithValues: m.namedParameters().map { ($0.name, $0.parameter.shape) })
}

@Suite("Model zoo")
struct ModelZooTests {
  @Test func digitsCNNArchitecture() throws {
    let m = try ModelZoo.build(architecture: "digits-cnn")
    #expect(m.config == ["channels": "32,64,128", "classes": "10", "seed": "0"])
    #expect(m.inputShape == [1, 28, 28] && m.targetLayer == "features.6" && m.preprocessing == "scale=1/255")
    #expect(m.classNames == (0..<10).map(String.init))
    #expect(m.parameterCount == (9 * 32 + 32) + (288 * 64 + 64) + (576 * 128 + 128) + (128 * 10 + 10))
    #expect(m.namedParameters().map(\.name) == [
      "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias", "features.6.weight",
      "features.6.bias", "classifier.weight", "classifier.bias",
    ])
    let (y, captured) = try m.forward(uniformInput([3, 1, 28, 28]), capturingInputsOf: [m.targetLayer])
    #expect(y.shape == [3, 10])
    #expect(captured["features.6"]!.shape == [3, 64, 7, 7])
  }

  @Test func rebuildFromConfigGivesTheSameWeights() throws {
    let a = try ModelZoo.build(architecture: "mlp", options: ["inputs": "7", "seed": "5"])
    let b = try ModelZoo.build(architecture: a.architecture, options: a.config)
    let c = try ModelZoo.build(architecture: "mlp", options: ["inputs": "7", "seed": "6"])
    #expect(a.config == ["inputs": "7", "hidden": "64,32", "classes": "2", "seed": "5"])
    #expect(a.namedParameters().map { $0.parameter.value.scalars } == b.namedParameters().map { $0.parameter.value.scalars })
    #expect(a.namedParameters().map { $0.parameter.value.scalars } != c.namedParameters().map { $0.parameter.value.scalars })
    #expect(shapes(a) == ["0.weight": [64, 7], "0.bias": [64], "2.weight": [32, 64], "2.bias": [32], "4.weight": [2, 32], "4.bias": [2]])
    #expect(a.targetLayer == "4")
    #expect(a(normalInput([5, 7])).shape == [5, 2])
  }

  @Test func badArchitecturesAndOptionsAreOneLineErrors() throws {
    #expect(throws: LayerError(
      "unknown architecture 'resnet51' (known: densenet121, digits-cnn, efficientnet-lite0, mlp, resnet18, resnet50, vgg11, vgg16, vgg19)"
    )) { try ModelZoo.build(architecture: "resnet51") }
    #expect(throws: LayerError("mlp: missing option 'inputs'")) { try ModelZoo.build(architecture: "mlp") }
    #expect(throws: LayerError("mlp: option hidden=64,x is not a comma-separated list of integers in 1 ... 100000")) {
      try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "64,x"])
    }
    #expect(throws: LayerError("digits-cnn: unknown option(s) clases (known: channels, classes, seed)")) {
      try ModelZoo.build(architecture: "digits-cnn", options: ["clases": "3"])
    }
    #expect(throws: LayerError("mlp: option seed=-1 is not a non-negative integer")) {
      try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "seed": "-1"])
    }
    #expect(throws: LayerError("vgg11: option normalize=maybe is not true or false")) {
      try ModelZoo.build(architecture: "vgg11", options: ["normalize": "maybe"])
    }
    var options = ModelOptions(architecture: "toy", values: ["rate": "0.5", "on": "Yes"])
    #expect(try options.float("rate", default: 1) == 0.5)
    #expect(try options.bool("on", default: false))
    #expect(try options.float("missing", default: 2) == 2)
    #expect(throws: LayerError("toy: option rate=half is not a number")) {
      var bad = ModelOptions(architecture: "toy", values: ["rate": "half"])
      _ = try bad.float("rate", default: 1)
    }
  }

  @Test func vgg19MatchesTorchvision() throws {
    let m = try ModelZoo.build(architecture: "vgg19")
    #expect(m.parameterCount == 143_667_240)
    let s = shapes(m)
    #expect(s.count == 38)
    #expect(s["features.0.weight"] == [64, 3, 3, 3] && s["features.34.weight"] == [512, 512, 3, 3])
    #expect(s["classifier.0.weight"] == [4096, 25088] && s["classifier.6.bias"] == [1000])
    #expect(m.targetLayer == "features.36")
    #expect(try m.layer(named: m.targetLayer) is MaxPool2D)
  }

  @Test func resNetsMatchTorchvision() throws {
    let r50 = try ModelZoo.build(architecture: "resnet50")
    #expect(r50.parameterCount == 25_557_032)
    let s = shapes(r50)
    #expect(s.count == 320)  // torchvision's resnet50 state_dict has 320 entries
    #expect(s["conv1.weight"] == [64, 3, 7, 7] && s["bn1.num_batches_tracked"] == [])
    #expect(s["layer1.0.downsample.0.weight"] == [256, 64, 1, 1] && s["layer1.0.downsample.1.running_var"] == [256])
    #expect(s["layer4.2.conv3.weight"] == [2048, 512, 1, 1] && s["fc.weight"] == [1000, 2048])
    #expect(s["layer2.0.conv2.weight"] == [128, 128, 3, 3] && s["layer2.1.downsample.0.weight"] == nil)
    let r18 = try ModelZoo.build(architecture: "resnet18", options: ["classes": "10", "size": "64"])
    #expect(try ModelZoo.build(architecture: "resnet18").parameterCount == 11_689_512)
    r18.setTraining(false)
    let (y, a) = try r18.forward(uniformInput([1, 3, 64, 64]), capturingInputsOf: ["avgpool", "layer2.0.downsample"])
    #expect(y.shape == [1, 10])
    #expect(a["avgpool"]!.shape == [1, 512, 2, 2] && a["layer2.0.downsample"]!.shape == [1, 64, 16, 16])
    #expect(a["avgpool"]!.scalars.allSatisfy { $0 >= 0 })  // after the block's final ReLU
  }

  @Test func denseNet121MatchesTorchvision() throws {
    let m = try ModelZoo.build(architecture: "densenet121")
    #expect(m.parameterCount == 7_978_856)
    let s = shapes(m)
    #expect(s.count == 727)  // torchvision's densenet121 state_dict entries (with num_batches_tracked)
    #expect(s["features.conv0.weight"] == [64, 3, 7, 7])
    #expect(s["features.denseblock1.denselayer1.norm1.weight"] == [64])
    #expect(s["features.denseblock1.denselayer1.conv1.weight"] == [128, 64, 1, 1])
    #expect(s["features.denseblock1.denselayer6.conv2.weight"] == [32, 128, 3, 3])
    #expect(s["features.transition1.conv.weight"] == [128, 256, 1, 1])
    #expect(s["features.denseblock4.denselayer16.conv1.weight"] == [128, 992, 1, 1])
    #expect(s["features.norm5.running_mean"] == [1024] && s["classifier.weight"] == [1000, 1024])
  }

  @Test func efficientNetLite0MatchesTheReleasedCheckpoint() throws {
    let m = try ModelZoo.build(architecture: "efficientnet-lite0")
    #expect(m.parameterCount == 4_652_008)
    let s = shapes(m)
    #expect(s.count == 296)  // tensors in efficientnet-lite0-57934424.pth
    #expect(s["_conv_stem.weight"] == [32, 3, 3, 3] && s["_bn0.running_var"] == [32])
    #expect(s["_blocks.0._depthwise_conv.weight"] == [32, 1, 3, 3] && s["_blocks.0._expand_conv.weight"] == nil)
    #expect(s["_blocks.0._project_conv.weight"] == [16, 32, 1, 1])
    #expect(s["_blocks.1._expand_conv.weight"] == [96, 16, 1, 1] && s["_blocks.1._bn0.weight"] == [96])
    #expect(s["_blocks.3._depthwise_conv.weight"] == [144, 1, 5, 5])
    #expect(s["_blocks.15._project_conv.weight"] == [320, 1152, 1, 1])
    #expect(s["_conv_head.weight"] == [1280, 320, 1, 1] && s["_bn1.weight"] == [1280] && s["_fc.weight"] == [1000, 1280])
    #expect(try m.layer(named: "_blocks.2") is Residual && m.layer(named: "_blocks.1") is Sequential)
    let stem = try m.layer(named: "_conv_stem") as! Conv2D
    let bn0 = try m.layer(named: "_bn0") as! BatchNorm
    #expect(stem.padding == .same)
    #expect(bn0.epsilon == 1e-3)
    m.setTraining(false)
    let (y, a) = try m.forward(uniformInput([1, 3, 224, 224]), capturingInputsOf: [m.targetLayer])
    #expect(y.shape == [1, 1000] && y.scalars.allSatisfy(\.isFinite))
    #expect(a["_conv_head"]!.shape == [1, 320, 7, 7])
  }
}
