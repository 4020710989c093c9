import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining
import TestSupport
import Testing

/// Path of an ONNX fixture (written by Tests/Fixtures/make_onnx_fixtures.py).
private func onnxFixture(_ name: String) -> String {
  URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

@Suite("ONNX import")
struct ONNXImportTests {
  /// An imported checkpoint rebuilds the same network (graph from `config`, weights from the
  /// datasets), with class names and preprocessing; `--model FILE.onnx` resolves to the same.
  @Test func checkpointRebuildsTheGraph() throws {
    let folder = NSTemporaryDirectory() + "onnx-import-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let source = onnxFixture("onnx_tiny_cnn_op13.onnx")
    let classes = try ImageNetDataset.loadClassNames(onnxFixture("onnx_tiny_cnn_classes.json"))
    let summary = try WeightImport.importONNX(from: source, classNames: classes, output: folder + "/m.h5")
    #expect(summary.format == "onnx" && summary.tensors == 24)
    let loaded = try Checkpoint.load(folder + "/m.h5")
    let direct = try ModelReference(parsing: source).resolve()
    #expect(loaded.architecture == GraphModel.architecture)
    #expect(loaded.classNames == ["ant", "bee", "cat", "dog", "eel"])
    #expect(loaded.preprocessing == "scale=1/255" && loaded.inputShape == [3, 16, 16])
    #expect(loaded.targetLayer == direct.targetLayer)
    let x = randomTensor([3, 3, 16, 16], seed: 5, low: 0, high: 1)
    #expect(loaded(x).scalars == direct(x).scalars)
    #expect(summary.parameters == loaded.namedParameters().reduce(0) { $0 + $1.parameter.count })
  }

  @Test func classNamesMustMatchTheOutputs() throws {
    let error = #expect(throws: DataError.self) {
      _ = try WeightImport.loadONNX(onnxFixture("onnx_tiny_cnn_op13.onnx"), classNames: ["a", "b"])
    }
    #expect(error?.description == "2 class names for the 5 outputs of \(onnxFixture("onnx_tiny_cnn_op13.onnx"))")
  }
}
