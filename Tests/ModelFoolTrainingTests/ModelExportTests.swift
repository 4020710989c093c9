import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import TestSupport
import Testing

/// `max |a - b| / max |b|` over two logit tensors of the same shape.
private func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
  precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape)")
  let (x, y) = (a.scalars, b.scalars)
  let scale = y.map(abs).max() ?? 0
  return zip(x, y).map { abs($0 - $1) }.max()! / Swift.max(scale, .leastNormalMagnitude)
}

@Suite("Model export")
struct ModelExportTests {
  let folder = NSTemporaryDirectory() + "model-export-\(UUID().uuidString)"

  /// Exports `model` to ONNX, reads it back with our own reader and returns the relative error of
  /// the logits on a seeded batch of 3, with the re-imported model.
  func onnxRoundTrip(_ model: Model, name: String, low: Float = 0, high: Float = 1) throws -> (error: Float, back: Model) {
    model.setTraining(false)
    let path = folder + "/\(name).onnx"
    let summary = try ModelExport.export(model, to: path)
    #expect(summary.format == .onnx && summary.opset == GraphBuilder.opset)
    #expect(summary.bytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
    let back = try Checkpoint.load(path)
    #expect(back.architecture == GraphModel.architecture)
    #expect(back.inputShape == model.inputShape && back.preprocessing == model.preprocessing)
    #expect(back.classNames == model.classNames)
    let x = randomTensor([3] + model.inputShape, seed: 11, low: low, high: high)
    return (relativeError(back(x), model(x)), back)
  }

  @Test func digitsCNNRoundTripsThroughONNX() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "4,8,8", "seed": "3"])
    let (error, back) = try onnxRoundTrip(model, name: "digits")
    #expect(error <= 1e-5)
    // Parameters keep their state-dict names and values; the graph's tensors the layers' names.
    let original = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter.value.scalars) })
    let imported = Dictionary(uniqueKeysWithValues: back.namedParameters().map { ($0.name, $0.parameter.value.scalars) })
    #expect(original == imported)
    let definition = try #require((back.network as? GraphNetwork)?.definition)
    #expect(definition.nodes.map(\.op) == [
      "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm",
    ])
    #expect(definition.nodes.map(\.name).prefix(3) == ["features.0", "features.1", "features.2"])
    #expect(definition.inputName == "input" && definition.outputName == "logits" && definition.opset == 13)
    #expect(back.targetLayer == "features.6")  // the tensor written by the last Conv, features.6
  }

  @Test func tabularMLPRoundTripsThroughONNX() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "12", "hidden": "16,8", "classes": "3", "seed": "4"])
    let (error, back) = try onnxRoundTrip(model, name: "mlp", low: -2, high: 2)
    #expect(error <= 1e-5)
    #expect((back.network as? GraphNetwork)?.definition.nodes.map(\.op) == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"])
  }

  /// Our writer's `Tanh` (and `Sigmoid`) read back: a tanh MLP round-trips.
  @Test func tanhAndSigmoidRoundTripThroughONNX() throws {
    let net = Sequential(named: [
      ("fc1", Dense(inputSize: 5, outputSize: 7, seed: 1)), ("tanh", ActivationLayer(.tanh)),
      ("fc2", Dense(inputSize: 7, outputSize: 6, seed: 2)), ("sigmoid", ActivationLayer(.sigmoid)),
      ("fc3", Dense(inputSize: 6, outputSize: 3, seed: 3)),
    ])
    let model = Model(network: net, architecture: "custom", config: [:], inputShape: [5])
    let (error, back) = try onnxRoundTrip(model, name: "tanh", low: -2, high: 2)
    #expect(error <= 1e-5)
    #expect((back.network as? GraphNetwork)?.definition.nodes.map(\.op) == ["Gemm", "Tanh", "Gemm", "Sigmoid", "Gemm"])
  }

  @Test func resNetRoundTripsThroughONNX() throws {
    let model = try ModelZoo.build(architecture: "resnet18", options: ["classes": "5", "size": "32", "seed": "5"])
    randomizeBatchNorms(model, seed: 50)
    let (error, back) = try onnxRoundTrip(model, name: "resnet18")
    #expect(error <= 1e-5)
    let ops = (back.network as? GraphNetwork)?.definition.nodes.map(\.op) ?? []
    // Normalisation (2 constants, Sub, Mul), 20 convolutions, 20 BatchNorms, 8 residual additions.
    #expect(ops.filter { $0 == "Conv" }.count == 20 && ops.filter { $0 == "BatchNormalization" }.count == 20)
    #expect(ops.filter { $0 == "Add" }.count == 8 && ops.prefix(4) == ["Constant", "Constant", "Sub", "Mul"])
  }

  @Test func denseNetRoundTripsThroughONNX() throws {
    let model = try ModelZoo.build(architecture: "densenet121", options: ["classes": "4", "size": "32", "seed": "6"])
    randomizeBatchNorms(model, seed: 60)
    let (error, back) = try onnxRoundTrip(model, name: "densenet121")
    #expect(error <= 1e-5)
    let ops = (back.network as? GraphNetwork)?.definition.nodes.map(\.op) ?? []
    #expect(ops.filter { $0 == "Concat" }.count == 58 && ops.filter { $0 == "AveragePool" }.count == 3)
  }

  @Test func efficientNetLiteRoundTripsThroughONNX() throws {
    // TensorFlow "same" padding (asymmetric at stride 2), depthwise convolutions, ReLU6 as Clip.
    let model = try ModelZoo.build(architecture: "efficientnet-lite0", options: ["classes": "3", "size": "35", "seed": "7"])
    randomizeBatchNorms(model, seed: 70)
    let (error, _) = try onnxRoundTrip(model, name: "efficientnet")
    #expect(error <= 1e-5)
  }

  /// Layers no zoo model of a small size reaches: the adaptive pool's matrix form (5x5 -> 3x3) and
  /// equal-window form (4x4 -> 2x2), average pooling with padding, dropout, a
  /// residual block without a post layer, sigmoid and ReLU6, and a dense layer on [C, H, W].
  @Test func otherLayersRoundTripThroughONNX() throws {
    let network = Sequential {
      ("normalize", Normalize(mean: [0.3, 0.6], standardDeviation: [0.2, 0.4]))
      Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2, padding: .same, seed: 1)
      ActivationLayer(.relu6)
      AdaptiveAvgPool2D(outputHeight: 3, outputWidth: 3)
      Residual(body: [("conv", Conv2D(inputChannels: 3, outputChannels: 3, kernelSize: 1, seed: 2)), ("act", ActivationLayer(.sigmoid))])
      AvgPool2D(kernelSize: 2, stride: 1, padding: 1)
      AdaptiveAvgPool2D(outputHeight: 2, outputWidth: 2)
      Dropout(rate: 0.5, seed: 3)
      Dense(inputSize: 2, outputSize: 4, seed: 4)
      Flatten()
      BatchNorm1D(channels: 24)
      Dense(inputSize: 24, outputSize: 3, seed: 5)
    }
    let model = Model(network: network, architecture: "custom", inputShape: [2, 10, 9], classNames: ["a", "b", "c"])
    randomizeBatchNorms(model, seed: 80)
    let (error, back) = try onnxRoundTrip(model, name: "custom")
    #expect(error <= 1e-5)
    let ops = (back.network as? GraphNetwork)?.definition.nodes.map(\.op) ?? []
    #expect(ops.contains("Clip") && ops.contains("MatMul") && ops.contains("Transpose") && ops.contains("AveragePool"))
  }

  /// An imported ONNX graph, fine-tuned (a weight changed), exported and read again: same graph,
  /// the changed weight, the same logits.
  @Test func importedGraphExportsWithItsCurrentWeights() throws {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/onnx_tiny_cnn_op18.onnx").path
    let model = try WeightImport.loadONNX(source, classNames: ["ant", "bee", "cat", "dog", "eel"])
    let fc = try model.parameter(named: "fc.weight")
    fc.value = fc.value * 1.5 + 0.01
    let path = folder + "/tiny.onnx"
    let summary = try ModelExport.export(model, to: path)
    #expect(summary.opset == 18)
    let back = try Checkpoint.load(path)
    #expect((back.network as? GraphNetwork)?.definition == (model.network as? GraphNetwork)?.definition)
    #expect(try back.parameter(named: "fc.weight").value.scalars == fc.value.scalars)
    #expect(back.classNames == ["ant", "bee", "cat", "dog", "eel"])
    let x = randomTensor([2, 3, 16, 16], seed: 9, low: 0, high: 1)
    #expect(back(x).scalars == model(x).scalars)
  }

  /// The state dict as safetensors: our reader gives back every tensor by name, the counters as
  /// int64 scalars, and importing the file into the architecture gives the same logits.
  @Test func safetensorsExportIsTheStateDict() throws {
    let model = try ModelZoo.build(architecture: "resnet18", options: ["classes": "5", "size": "32", "seed": "8"])
    randomizeBatchNorms(model, seed: 90)
    let path = folder + "/resnet18.safetensors"
    let summary = try ModelExport.export(model, to: path)
    let named = model.namedParameters()
    #expect(summary.format == .safetensors && summary.tensors == named.count && summary.tensors == 122)
    let read = try SafeTensorsFile.read(path: path)
    #expect(read.map(\.name) == named.map(\.name))
    for (t, p) in zip(read, named) {
      #expect(t.shape == p.parameter.shape && t.values == p.parameter.value.scalars, "\(t.name)")
    }
    // The header: num_batches_tracked as I64 scalars, the rest F32, data 8-byte aligned.
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let length = data.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
    #expect(length % 8 == 0)
    let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
    let counter = try #require(header["bn1.num_batches_tracked"] as? [String: Any])
    #expect(counter["dtype"] as? String == "I64" && (counter["shape"] as? [Int]) == [])
    #expect((header["conv1.weight"] as? [String: Any])?["dtype"] as? String == "F32")
    #expect((header["__metadata__"] as? [String: String])?["format"] == "pt")

    let imported = try WeightImport.importCheckpoint(
      from: path, architecture: "resnet18", options: ["classes": "5", "size": "32"], output: folder + "/back.h5")
    #expect(imported.tensors == 122)
    let back = try Checkpoint.load(folder + "/back.h5")
    back.setTraining(false)
    let x = randomTensor([2, 3, 32, 32], seed: 12, low: 0, high: 1)
    #expect(back(x).scalars == model(x).scalars)
  }

  @Test func refusalsAreOneLine() throws {
    let model = try ModelZoo.build(architecture: "digits-cnn", options: ["channels": "2,2,2"])
    let extensionError = #expect(throws: DataError.self) { _ = try ModelExport.export(model, to: folder + "/m.pt") }
    #expect(extensionError?.description == "cannot export to \(folder)/m.pt: unknown extension '.pt' (known: .onnx, .safetensors)")
    let smooth = Model(
      network: Sequential(named: [("pool", SmoothMaxPool2D(kernelSize: 2, beta: 1)), ("flatten", Flatten())]),
      architecture: "custom", inputShape: [1, 4, 4])
    #expect(throws: LayerError("cannot export layer 'pool' (SmoothMaxPool2D): it has no ONNX mapping")) {
      _ = try ModelExport.export(smooth, to: folder + "/smooth.onnx")
    }
    model.setActivation(.softplus(beta: 5))
    #expect(throws: LayerError("cannot export layer 'features.1': its activation softplus(beta=5.0) has no ONNX mapping (export the model with its built activations)")) {
      _ = try ModelExport.export(model, to: folder + "/soft.onnx")
    }
    // Nothing half-written is left behind, and a folder in the way is not replaced.
    #expect(!FileManager.default.fileExists(atPath: folder + "/smooth.onnx"))
    try FileManager.default.createDirectory(atPath: folder + "/taken.onnx", withIntermediateDirectories: true)
    model.restoreActivations()
    let counter = #expect(throws: DataError.self) {
      _ = try SafeTensorsFile.serialize([.init(name: "n", shape: [], values: [1e30], type: .int64)])
    }
    #expect(counter?.description == "safetensors: tensor n holds 1e+30, not a whole number within Int64 for I64")
    let folderError = #expect(throws: DataError.self) { _ = try ModelExport.export(model, to: folder + "/taken.onnx") }
    #expect(folderError?.description == "refusing to replace \(folder)/taken.onnx: it is a folder, not a regular file")
  }
}
