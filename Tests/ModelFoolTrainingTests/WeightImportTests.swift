import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import Testing

/// The EfficientNet-Lite0 `.pth`, when present: `$MODELFOOL_EFFNET_PTH`, or the import cache under
/// the package root (`runs/cache/...`, filled by `modelfool import`).
private let effnetPTH: String? = {
  let env = ProcessInfo.processInfo.environment["MODELFOOL_EFFNET_PTH"] ?? ""
  let candidates = [env, WeightImport.cachedWeightsPath(WeightImport.efficientNetLite0, cacheDirectory: "runs/cache")]
  let found = candidates.first { !$0.isEmpty && FileManager.default.fileExists(atPath: $0) }
  if found == nil {
    FileHandle.standardError.write(Data(
      "NOTICE: EfficientNet-Lite0 .pth not found (set MODELFOOL_EFFNET_PTH or run `modelfool import`): import tests skipped\n".utf8))
  }
  return found
}()

private func temporaryPath(_ name: String) -> String {
  NSTemporaryDirectory() + "/modelfool-wi-\(ProcessInfo.processInfo.processIdentifier)-\(name)"
}

@Suite struct TFSamePaddingTests {
  /// (input, kernel, stride) -> (before, after, output): total = max((out - 1) s + k - in, 0),
  /// out = ceil(in / s), the odd pixel at the bottom/right.
  @Test(arguments: [
    (224, 3, 1, 1, 1, 224), (224, 5, 1, 2, 2, 224),
    (224, 3, 2, 0, 1, 112), (224, 5, 2, 1, 2, 112),  // 111*2+3-224 = 1; 111*2+5-224 = 3
    (7, 3, 2, 1, 1, 4), (113, 5, 2, 2, 2, 57),  // 3*2+3-7 = 2; 56*2+5-113 = 4
    (14, 5, 2, 1, 2, 7),  // 6*2+5-14 = 3
  ])
  func padsAndOutputSize(_ c: (Int, Int, Int, Int, Int, Int)) throws {
    let (input, k, s, before, after, out) = c
    let pads = ConvGeometry.samePadding(input: input, kernel: k, stride: s)
    #expect(pads.0 == before && pads.1 == after)
    let g = PaddingMode.same.geometry(kernel: (k, k), stride: (s, s), inputHeight: input, inputWidth: input)
    #expect(g.padTop == before && g.padBottom == after && g.padLeft == before && g.padRight == after)
    let size = try #require(g.outputSize(h: input, w: input))
    #expect(size.0 == out && size.1 == out)
  }

  /// Ones 4x4 through a 3x3 all-ones kernel, stride 2, SAME (pads 0 top/left, 1 bottom/right):
  /// windows hold 9, 6, 6, 4 real pixels.
  @Test func asymmetricWindowSums() {
    let conv = Conv2D(inputChannels: 1, outputChannels: 1, kernelSize: 3, stride: 2, padding: .same, bias: false)
    try? conv.weight.load(Tensor(repeating: 1, shape: [1, 1, 3, 3]))
    let y = conv(Tensor(repeating: 1, shape: [1, 1, 4, 4]))
    #expect(y.shape == [1, 1, 2, 2])
    #expect(y.scalars == [9, 6, 6, 4])
    // Depthwise 5x5, stride 1 on 3 channels: the centre of a 5x5 input sees all 25 pixels, a corner 9.
    let dw = Conv2D(inputChannels: 3, outputChannels: 3, kernelSize: 5, padding: .same, groups: 3, bias: false)
    try? dw.weight.load(Tensor(repeating: 1, shape: [3, 1, 5, 5]))
    let z = dw(Tensor(repeating: 1, shape: [1, 3, 5, 5]))
    #expect(z.shape == [1, 3, 5, 5])
    #expect(z.scalars[12] == 25 && z.scalars[0] == 9 && z.scalars[25 + 4] == 9 && z.scalars[50 + 7] == 20)
  }
}

@Suite struct DepthwiseKernelTests {
  /// The direct depthwise kernels agree with per-channel dense convolutions (im2col + GEMM path)
  /// for forward, input gradient and weight gradient, at strides 1 and 2 with TF-SAME padding.
  @Test(arguments: [(3, 1), (5, 2), (3, 2)])
  func matchesPerChannelDenseConvolution(_ c: (Int, Int)) throws {
    let (k, s) = c
    var g = SeededGenerator(seed: 5)
    let x = Tensor.randomUniform([2, 4, 9, 8], low: -1, high: 1, using: &g)
    let w = Tensor.randomUniform([4, 1, k, k], low: -1, high: 1, using: &g)
    let geometry = PaddingMode.same.geometry(kernel: (k, k), stride: (s, s), inputHeight: 9, inputWidth: 8)
    let y = Tensor.conv2d(x, w, geometry: geometry, groups: 4)
    let perChannel = (0..<4).map {
      Tensor.conv2d(x.slice(axis: 1, $0..<($0 + 1)), w.slice(axis: 0, $0..<($0 + 1)), geometry: geometry)
    }
    let expected = Tensor.concatenate(perChannel, alongAxis: 1)
    #expect(y.shape == expected.shape)
    #expect(zip(y.scalars, expected.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
    let gy = Tensor.randomUniform(y.shape, low: -1, high: 1, using: &g)
    let dx = Tensor.convInputGradient(gy, w, inputShape: x.shape, geometry: geometry, groups: 4)
    let dw = Tensor.convWeightGradient(x, gy, weightShape: w.shape, geometry: geometry, groups: 4)
    let dxExpected = Tensor.concatenate((0..<4).map {
      Tensor.convInputGradient(gy.slice(axis: 1, $0..<($0 + 1)), w.slice(axis: 0, $0..<($0 + 1)),
                               inputShape: [2, 1, 9, 8], geometry: geometry)
    }, alongAxis: 1)
    let dwExpected = Tensor.concatenate((0..<4).map {
      Tensor.convWeightGradient(x.slice(axis: 1, $0..<($0 + 1)), gy.slice(axis: 1, $0..<($0 + 1)),
                                weightShape: [1, 1, k, k], geometry: geometry)
    }, alongAxis: 0)
    #expect(zip(dx.scalars, dxExpected.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
    #expect(zip(dw.scalars, dwExpected.scalars).allSatisfy { abs($0 - $1) < 1e-4 })
  }
}

@Suite struct EfficientNetImportTests {
  @Test(.enabled(if: effnetPTH != nil)) func tensorCountAndShapes() throws {
    let tensors = try LegacyTorchFile.read(path: effnetPTH!)
    #expect(tensors.count == 296)
    let shapes = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.shape) })
    #expect(shapes["_conv_stem.weight"] == [32, 3, 3, 3])
    #expect(shapes["_blocks.0._depthwise_conv.weight"] == [32, 1, 3, 3])
    #expect(shapes["_blocks.1._expand_conv.weight"] == [96, 16, 1, 1])
    #expect(shapes["_blocks.3._depthwise_conv.weight"] == [144, 1, 5, 5])  // stage 3: 24 x 6 channels, kernel 5
    #expect(shapes["_blocks.5._depthwise_conv.weight"] == [240, 1, 3, 3])  // stage 4: 40 x 6, kernel 3
    #expect(shapes["_blocks.15._depthwise_conv.weight"] == [1152, 1, 3, 3])
    #expect(shapes["_blocks.15._project_conv.weight"] == [320, 1152, 1, 1])
    #expect(shapes["_conv_head.weight"] == [1280, 320, 1, 1])
    #expect(shapes["_bn1.running_var"] == [1280])
    #expect(shapes["_fc.weight"] == [1000, 1280])
    #expect(tensors.reduce(0) { $0 + $1.values.count } == 4_694_073)
    // One-to-one onto the zoo model.
    let model = try ModelZoo.build(architecture: "efficientnet-lite0")
    try WeightImport.load(tensors, into: model, source: effnetPTH!)
    #expect(model.namedParameters().count == 296)
  }

  /// The imported model on the sample: 18 of the 20 photos right at top-1, 19 in the top 5.
  @Test(.enabled(if: effnetPTH != nil)) func sampleAccuracy() throws {
    let out = temporaryPath("effnet.h5")
    defer { try? FileManager.default.removeItem(atPath: out) }
    let summary = try WeightImport.importPretrained(
      WeightImport.efficientNetLite0, weights: effnetPTH!, datasetsRoot: "datasets", output: out)
    #expect(summary.tensors == 296)
    let model = try Checkpoint.load(out)
    #expect(model.classNames.count == 1000 && model.classNames[0] == "tench")
    let data = try DataSource.dataset("imagenet-sample").evaluationData(for: model, datasetsRoot: "datasets", log: { _ in })
    let report = try Predictor.accuracy(model, on: data)
    #expect(report.count == 20 && report.correctTop1 == 18 && report.correctTop5 == 19)
  }

  @Test func mappingMismatchIsReported() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "3", "hidden": "", "classes": "2"])
    let tensors: [(name: String, shape: [Int], values: [Float])] = [
      ("0.weight", [2, 4], [Float](repeating: 0, count: 8)), ("0.extra", [1], [0]),
    ]
    #expect {
      try WeightImport.load(tensors, into: model, source: "x.pth")
    } throws: { error in
      "\(error)" == "x.pth does not map onto mlp: 1 missing (0.bias); 1 unexpected (0.extra); 1 mis-shaped (0.weight is [2, 4], mlp needs [2, 3])"
    }
  }
}

@Suite struct ExportLayoutTests {
  /// A resnet18 with random weights written as tools/export_weights.py writes a state dict
  /// (dotted names as groups, string attributes, no preprocessing/target_layer) loads through
  /// `Checkpoint.load` and computes bit-identical logits.
  @Test func resnet18RoundTrip() throws {
    let options = ["classes": "10", "size": "32", "seed": "7"]
    let original = try ModelZoo.build(architecture: "resnet18", options: options)
    // Non-trivial BatchNorm statistics, so buffers matter.
    var g = SeededGenerator(seed: 3)
    for (name, p) in original.namedParameters() where name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
      let v = Tensor.randomUniform(p.shape, low: 0.5, high: 1.5, using: &g)
      try p.load(name.hasSuffix("running_var") ? v : v - 1, name: name)
    }
    let path = temporaryPath("resnet18.h5")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = try HDF5File.create(path)
    for (name, p) in original.namedParameters() {
      try file.write(p.value.scalars, shape: p.shape, at: "/" + name.replacingOccurrences(of: ".", with: "/"))
    }
    let attributes = [
      "format": "modelfool-checkpoint", "format_version": "1", "architecture": "resnet18",
      "config": #"{"classes": "10", "seed": "7", "size": "32"}"#, "input_shape": "[3, 32, 32]",
      "class_names": #"["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]"#,
      "metadata": #"{"source": "test"}"#,
    ]
    for (k, v) in attributes { try file.setAttribute(k, to: v) }
    try file.close()

    let loaded = try Checkpoint.load(path, trustUnsealed: true)  // an h5py export carries no seal
    #expect(loaded.classNames[9] == "c9" && loaded.inputShape == [3, 32, 32])
    #expect(loaded.preprocessing == original.preprocessing && loaded.targetLayer == original.targetLayer)
    var gx = SeededGenerator(seed: 11)
    let x = Tensor.randomUniform([2, 3, 32, 32], low: 0, high: 1, using: &gx)
    original.setTraining(false)
    loaded.setTraining(false)
    let a = withoutRecording { original(x) }, b = withoutRecording { loaded(x) }
    #expect(a.shape == [2, 10])
    #expect(a.scalars == b.scalars)
  }
}

@Suite struct PredictEvaluateTests {
  /// `mlp` with no hidden layer and identity weights: logits = inputs.
  func identityModel(_ n: Int) throws -> Model {
    let m = try ModelZoo.build(architecture: "mlp", options: ["inputs": "\(n)", "hidden": "", "classes": "\(n)"])
    var eye = [Float](repeating: 0, count: n * n)
    for i in 0..<n { eye[i * n + i] = 1 }
    try m.namedParameters()[0].parameter.load(Tensor(shape: [n, n], scalars: eye))
    try m.namedParameters()[1].parameter.load(Tensor.zeros([n]))
    m.classNames = (0..<n).map { "class\($0)" }
    return m
  }

  @Test func topClassesAndJSON() throws {
    let top = Predictor.topClasses(logits: Tensor(shape: [1, 3], scalars: [1, 3, 2]), classNames: ["a", "b", "c"], k: 2)
    #expect(top[0].map(\.classIndex) == [1, 2] && top[0].map(\.name) == ["b", "c"])
    // softmax: e^3 / (e + e^2 + e^3) = 0.665241, e^2 / ... = 0.244728
    #expect(abs(top[0][0].probability - 0.665241) < 1e-5 && abs(top[0][1].probability - 0.244728) < 1e-5)
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let text = String(decoding: try encoder.encode([Prediction(input: "x", top: [top[0][0]])]), as: UTF8.self)
    #expect(text.hasPrefix(#"[{"input":"x","top":[{"class":1,"logit":3,"name":"b","probability":0.66524"#))
  }

  @Test func accuracyCountsRanks() throws {
    let m = try identityModel(6)
    // Label ranks 0, 3 and 5 (of 6): top-1 1/3, top-5 2/3.
    let inputs = Tensor(shape: [3, 6], scalars: [
      9, 1, 2, 3, 4, 5,
      5, 4, 3, 2, 1, 0,  // label 3 has value 2: three larger
      0, 1, 2, 3, 4, 5,  // label 0 has the smallest value
    ])
    let data = Dataset(name: "toy", inputs: inputs, labels: [0, 3, 0], classNames: m.classNames)
    let r = try Predictor.accuracy(m, on: data)
    #expect(r.count == 3 && r.correctTop1 == 1 && r.correctTop5 == 2)
    #expect(abs(r.top1 - 1.0 / 3) < 1e-6 && abs(r.top5 - 2.0 / 3) < 1e-6 && r.accuracy == r.top1)
  }

  @Test func csvRowsAndShapeErrors() throws {
    let m = try identityModel(4)
    let path = temporaryPath("rows.csv")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try "a,b,c,d\n0,0,5,1\n2,1,0,0\n".write(toFile: path, atomically: true, encoding: .utf8)
    let (inputs, names) = try Predictor.loadInputs([path], for: m)
    #expect(inputs.shape == [2, 4] && names == [path + "[0]", path + "[1]"])
    let predictions = try Predictor.predict(m, inputs: inputs, labels: names, top: 1)
    #expect(predictions.map { $0.top[0].name } == ["class2", "class0"])
    #expect(predictions[0].top[0].logit == 5)

    try "1,2,3\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect {
      try Predictor.loadInputs([path], for: m)
    } throws: { "\($0)" == "\(path): inputs of shape [3] per example, but mlp expects [4]" }
  }

  @Test func imagePipelineFromPreprocessingString() throws {
    let effnet = try ModelZoo.build(architecture: "efficientnet-lite0")
    #expect(try ModelInputs.imagePreprocessing(for: effnet) == .unitRange)
    let outside = try ModelZoo.build(architecture: "efficientnet-lite0", options: ["normalize": "false"])
    let steps = try #require(try ModelInputs.imagePreprocessing(for: outside))
    // (pixel / 255 - 127/255) / (128/255) = (pixel - 127) / 128
    var out = [Float](repeating: 0, count: 3)
    steps.normalize(rgb: [255, 127, 0], width: 1, height: 1, into: &out)
    #expect(abs(out[0] - 1) < 1e-6 && abs(out[1]) < 1e-6 && abs(out[2] + 127.0 / 128) < 1e-6)
    let vgg = try ModelZoo.build(architecture: "resnet18", options: ["normalize": "false", "classes": "2"])
    let t = try #require(try ModelInputs.imagePreprocessing(for: vgg))
    #expect(t == .torchvision)
    let digits = try ModelZoo.build(architecture: "digits-cnn")
    #expect(try ModelInputs.imagePreprocessing(for: digits) == ImagePreprocessing(resizeShorterSide: nil, centerCrop: nil))
    #expect(try ModelInputs.imagePreprocessing(for: try identityModel(2)) == nil)
  }
}

/// Path of a file in Tests/Fixtures (written by Tests/Fixtures/make_torch_fixtures.py).
private func fixturePath(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

@Suite struct TorchCheckpointImportTests {
  /// `digits-cnn` narrowed to the fixtures' width.
  static let options = ["channels": "4,8,8", "classes": "3"]

  /// Imports `file` into digits-cnn, writes the checkpoint, loads it back and returns its logits
  /// on a fixed batch.
  func logits(_ file: String) throws -> [Float] {
    let out = temporaryPath("import-\(file).h5")
    defer { try? FileManager.default.removeItem(atPath: out) }
    let summary = try WeightImport.importCheckpoint(
      from: fixturePath(file), architecture: "digits-cnn", options: Self.options,
      classNames: ["a", "b", "c"], output: out)
    #expect(summary.tensors == 8 && summary.parameters == 947)
    let model = try Checkpoint.load(out)
    #expect(model.classNames == ["a", "b", "c"])
    #expect(try Checkpoint.metadata(out)["source_format"] == summary.format)
    var g = SeededGenerator(seed: 4)
    let x = Tensor.randomUniform([2, 1, 28, 28], low: 0, high: 1, using: &g)
    model.setTraining(false)
    let y = withoutRecording { model(x) }
    #expect(y.shape == [2, 3])
    return y.scalars
  }

  /// The model loaded from each format computes bit-identical logits.
  @Test func logitsAreBitIdenticalAcrossFormats() throws {
    let reference = try logits("tiny_cnn.pth")
    #expect(reference.allSatisfy(\.isFinite) && Set(reference).count == 6)
    for file in [
      "tiny_cnn.pt", "tiny_cnn_deflate.pt", "tiny_cnn_zip64.pt", "tiny_cnn.safetensors",
      "tiny_cnn_torch.pt", "tiny_cnn_torch_legacy.pth", "tiny_cnn_torch.safetensors",
    ] {
      #expect(try logits(file).map(\.bitPattern) == reference.map(\.bitPattern), "\(file)")
    }
  }

  @Test func mismatchedArchitectureIsOneLineListingTensors() throws {
    let out = temporaryPath("mismatch.h5")
    defer { try? FileManager.default.removeItem(atPath: out) }
    let path = fixturePath("tiny_cnn.pt")
    #expect {
      try WeightImport.importCheckpoint(from: path, architecture: "digits-cnn", options: ["classes": "3"], output: out)
    } throws: { error in
      "\(error)" == "\(path) does not map onto digits-cnn: 7 mis-shaped (features.0.weight is [4, 1, 3, 3], digits-cnn needs [32, 1, 3, 3]; features.0.bias is [4], digits-cnn needs [32]; features.3.weight is [8, 4, 3, 3], digits-cnn needs [64, 32, 3, 3])"
    }
    #expect(!FileManager.default.fileExists(atPath: out))
    #expect {
      try WeightImport.importCheckpoint(from: path, architecture: "mlp", options: ["inputs": "4"], output: out)
    } throws: { error in
      "\(error)".hasPrefix("\(path) does not map onto mlp: 6 missing (0.weight, 0.bias, 2.weight, 2.bias, 4.weight (+1 more)); 8 unexpected (")
    }
    // A corrupt file's error concerns the weights setting.
    #expect {
      try WeightImport.importCheckpoint(
        from: fixturePath("hostile_stride.pth"), architecture: "digits-cnn", options: Self.options, output: out)
    } throws: { error in
      (error as? DataError)?.settings == ["weights"] && "\(error)".contains("overflows")
    }
  }
}
