import Foundation
import ModelFool
import ModelFoolData
import TestSupport
import Testing

/// Path of an ONNX fixture (written by Tests/Fixtures/make_onnx_fixtures.py).
private func onnxFixture(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

/// The reference input and onnxruntime's logits (onnx_tiny_cnn_reference.json).
private struct Reference: Decodable {
  var input_shape: [Int]
  var input: [Float]
  var op13: [[Float]]
  var op18: [[Float]]
  var dynamo_op18: [[Float]]
  var dynamo_op23: [[Float]]
  var torch: [[Float]]
  var writer: WriterReference

  /// onnx_writer_digits.onnx (ModelFool's writer): its input, onnxruntime's and PyTorch's logits.
  struct WriterReference: Decodable {
    var input_shape: [Int]
    var input: [Float]
    var onnxruntime: [[Float]]
    var torch: [[Float]]
  }

  /// onnxruntime's logits of the fixture written under `key`.
  func logits(_ key: String) -> [[Float]] {
    switch key {
    case "op13": op13
    case "op18": op18
    case "dynamo_op18": dynamo_op18
    default: dynamo_op23
    }
  }

  static func load() throws -> Reference {
    let data = try #require(FileManager.default.contents(atPath: onnxFixture("onnx_tiny_cnn_reference.json")))
    return try JSONDecoder().decode(Reference.self, from: data)
  }
}

@Suite("ONNX reader")
struct ONNXReaderTests {
  /// PyTorch's TorchScript exporter at opsets 13 and 18 and its dynamo exporter at opsets 18 and
  /// 23 (PyTorch 2.15's dynamo exporter writes no opset below 18; see make_onnx_fixtures.py): our
  /// logits equal onnxruntime's and PyTorch's.
  @Test(arguments: [("op13", 13), ("op18", 18), ("dynamo_op18", 18), ("dynamo_op23", 23)])
  func logitsMatchOnnxruntime(key: String, opset: Int) throws {
    let reference = try Reference.load()
    let path = onnxFixture("onnx_tiny_cnn_\(key).onnx")
    let imported = try ONNXReader.read(path)
    #expect(imported.definition.opset == opset)
    #expect(imported.definition.inputShape == [3, 16, 16])
    let model = try ONNXReader.model(imported, source: path)
    let x = Tensor(shape: reference.input_shape, scalars: reference.input)
    let y = model(x)
    let expected = Tensor(shape: [2, 5], scalars: reference.logits(key).flatMap { $0 })
    #expect(relativeError(y, expected) <= 1e-4, "\(y.scalars) vs \(expected.scalars)")
    #expect(relativeError(y, Tensor(shape: [2, 5], scalars: reference.torch.flatMap { $0 })) <= 1e-4)
    // Also for one image (shape arithmetic follows the batch).
    #expect(relativeError(model(x.slice(axis: 0, 1..<2)), expected.slice(axis: 0, 1..<2)) <= 1e-4)
  }

  /// The dynamo exporter's graph: its own tensor names, the state-dict names on initializers, the
  /// BatchNormalization after the residual kept (trainable scale, frozen statistics), the default
  /// layer the last Conv's output (the Conv into which F.pad was folded).
  @Test func dynamoExportKeepsNamesAndLayers() throws {
    let path = onnxFixture("onnx_tiny_cnn_dynamo_op18.onnx")
    let model = try ONNXReader.model(try ONNXReader.read(path), source: path)
    let byName = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
    #expect(byName["fc.weight"]?.shape == [5, 192])
    #expect(byName["post_bn.weight"]?.isTrainable == true)
    #expect(byName["post_bn.running_var"]?.isTrainable == false)
    #expect(byName["down.weight"]?.shape == [12, 14, 3, 3])
    #expect(model.targetLayer == "conv2d_7")
    let reference = try Reference.load()
    let (_, captured) = try model.forward(Tensor(shape: reference.input_shape, scalars: reference.input), capturingInputsOf: [model.targetLayer])
    #expect(captured[model.targetLayer]?.shape == [2, 12, 4, 4])
  }

  /// A file written by ModelFool's own writer (`modelfool export` of a digits CNN with channels
  /// 4, 8, 8): our logits equal onnxruntime's and PyTorch's on the same network.
  @Test func ownWriterMatchesOnnxruntime() throws {
    let reference = try Reference.load().writer
    let path = onnxFixture("onnx_writer_digits.onnx")
    let imported = try ONNXReader.read(path)
    #expect(imported.definition.opset == 13)
    #expect(imported.definition.inputShape == [1, 28, 28])
    let model = try ONNXReader.model(imported, source: path)
    let y = model(Tensor(shape: reference.input_shape, scalars: reference.input))
    #expect(y.shape == [2, 10])
    let expected = Tensor(shape: [2, 10], scalars: reference.onnxruntime.flatMap { $0 })
    #expect(relativeError(y, expected) <= 1e-4, "\(y.scalars) vs \(expected.scalars)")
    #expect(relativeError(y, Tensor(shape: [2, 10], scalars: reference.torch.flatMap { $0 })) <= 1e-4)
  }

  /// Names and roles: initializers keep their ONNX names; weights train, statistics and the
  /// normalisation constants do not; the default explained layer is the last Conv's output.
  @Test func parametersAndLayersKeepOnnxNames() throws {
    let path = onnxFixture("onnx_tiny_cnn_op18.onnx")
    let model = try ONNXReader.model(try ONNXReader.read(path), source: path)
    let byName = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.parameter) })
    #expect(byName["fc.weight"]?.isTrainable == true)
    #expect(byName["post_bn.weight"]?.isTrainable == true)
    #expect(byName["post_bn.running_var"]?.isTrainable == false)
    #expect(byName["mean"]?.isTrainable == false)
    #expect(byName["fc.weight"]?.shape == [5, 192])
    #expect(model.targetLayer == "/down/Conv_output_0")
    let reference = try Reference.load()
    let x = Tensor(shape: reference.input_shape, scalars: reference.input)
    let (_, captured) = try model.forward(x, capturingInputsOf: [model.targetLayer])
    #expect(captured[model.targetLayer]?.shape == [2, 12, 4, 4])
  }

  /// Hostile files: each is refused with one line naming the node or tensor.
  @Test(arguments: [
    ("cycle", ONNXError.Kind.graph, "Relu node 'first' is on a cycle"),
    ("undefined", .graph, "Add node 'reads_ghost' reads tensor 'ghost', which no node produces"),
    ("huge", .tensor, "initializer 'w': shape [1048576, 1048576] has more than 2^31 elements"),
    ("unsupported", .graph, "Einsum node 'mystery': operator 'Einsum' is not supported"),
    ("subgraph", .subgraph, "Relu node 'with_body': attribute 'body' holds a subgraph"),
    ("external_missing", .externalData, "initializer 'w': external data file 'absent.bin' is missing"),
    ("external_escape", .externalData, "initializer 'w': external data location '../outside.bin' leaves the model's folder"),
  ])
  func hostileFilesAreRefused(name: String, kind: ONNXError.Kind, message: String) throws {
    let path = onnxFixture("onnx_hostile_\(name).onnx")
    do {
      let imported = try ONNXReader.read(path)
      _ = try ONNXReader.model(imported, source: path)
      Issue.record("\(name) was accepted")
    } catch let error as ONNXError {
      #expect(error.kind == kind)
      #expect(error.description.contains(message), "\(error.description)")
      #expect(!error.description.contains("\n"))
    }
  }

  /// Raw data shorter than the shape claims, damaged bytes, and an over-size file.
  @Test func damagedBytesAreRefused() throws {
    let bytes = try #require(FileManager.default.contents(atPath: onnxFixture("onnx_tiny_cnn_op13.onnx")))
    var truncated = bytes.prefix(bytes.count / 2)
    #expect(throws: ONNXError.self) { _ = try ONNXReader.read(bytes: Data(truncated), source: "half", folder: nil) }
    truncated = Data(repeating: 0xFF, count: 64)
    #expect(throws: ONNXError.self) { _ = try ONNXReader.read(bytes: Data(truncated), source: "junk", folder: nil) }
    let error = #expect(throws: ONNXError.self) { _ = try ONNXReader.read(onnxFixture("onnx_tiny_cnn_op13.onnx"), maximumBytes: 1000) }
    #expect(error?.kind == .file)
  }
}
