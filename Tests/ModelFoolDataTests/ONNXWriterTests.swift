import Foundation
import ModelFool
import ModelFoolData
import Testing

/// The writers are the readers' inverses: ONNXWriter's bytes read back by ONNXReader give the same
/// definition, values and metadata; SafeTensorsFile's writer's bytes read back give the same tensors.
@Suite("ONNX and safetensors writers")
struct ONNXWriterTests {
  /// `y = reshape(2 * gemm(x, w, b), [0, -1])`: a float parameter pair, an integer constant, a
  /// Constant node with a tensor attribute, int and float attributes.
  static let definition = GraphDefinition(
    inputName: "x", inputShape: [2], outputName: "y",
    parameters: [GraphParameterSpec(name: "w", shape: [3, 2], isTrainable: true), GraphParameterSpec(name: "b", shape: [3], isTrainable: true)],
    constants: ["shape": .ints(shape: [2], values: [0, -1])],
    nodes: [
      GraphNodeSpec(name: "fc", op: "Gemm", inputs: ["x", "w", "b"], outputs: ["h"], attributes: ["transB": .int(1), "alpha": .float(1.5)]),
      GraphNodeSpec(name: "two", op: "Constant", inputs: [], outputs: ["c"], attributes: ["value": .tensor(.floats(shape: [], values: [2]))]),
      GraphNodeSpec(name: "scale", op: "Mul", inputs: ["h", "c"], outputs: ["s"]),
      GraphNodeSpec(name: "flat", op: "Reshape", inputs: ["s", "shape"], outputs: ["y"]),
    ],
    opset: 13)
  static let values = ["w": Tensor(shape: [3, 2], scalars: [1, -2, 3.5, 0.25, -0.125, 7]), "b": Tensor(shape: [3], scalars: [0.5, -0.5, 1])]

  @Test func onnxReadsBackWhatWasWritten() throws {
    let bytes = try ONNXWriter.serialize(
      Self.definition, values: Self.values, outputCount: 3, metadata: ["k": "v"], producer: ("modelfool", "1.0"))
    let imported = try ONNXReader.read(bytes: bytes, source: "written.onnx", folder: nil)
    #expect(imported.definition == Self.definition)
    #expect(imported.values["w"]?.scalars == Self.values["w"]?.scalars && imported.values["b"]?.scalars == Self.values["b"]?.scalars)
    #expect(imported.metadata == ["k": "v"] && imported.producer == "modelfool 1.0")
    // The graph runs: y = 2 * 1.5 * (x wᵀ) + 2 * b.
    let network = try GraphNetwork(definition: imported.definition, values: imported.values)
    let y = network(Tensor(shape: [1, 2], scalars: [1, 2]))
    let expected: [Float] = [-8, 11, 43.625]  // 2 (1.5 (1 - 4) + 0.5), 2 (1.5 (3.5 + 0.5) - 0.5), 2 (1.5 (-0.125 + 14) + 1)
    #expect(y.scalars == expected)
    #expect(ONNXWriter.irVersion(forOpset: 13) == 7 && ONNXWriter.irVersion(forOpset: 18) == 8)
  }

  @Test func onnxRefusesValuesThatDoNotFit() throws {
    var wrong = Self.values
    wrong["w"] = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(throws: ONNXError(.tensor, "parameter 'w' has shape [2, 3], the graph declares [3, 2]")) {
      _ = try ONNXWriter.serialize(Self.definition, values: wrong)
    }
    wrong["w"] = nil
    #expect(throws: ONNXError(.tensor, "parameter 'w' has no value to export")) { _ = try ONNXWriter.serialize(Self.definition, values: wrong) }
    wrong["w"] = Tensor(shape: [3, 2], scalars: [1, .nan, 3, 4, 5, 6])
    #expect(throws: ONNXError(.tensor, "tensor 'w' holds NaN or infinite values")) { _ = try ONNXWriter.serialize(Self.definition, values: wrong) }
  }

  @Test func safetensorsReadsBackWhatWasWritten() throws {
    let path = NSTemporaryDirectory() + "writer-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let entries = [
      SafeTensorsFile.Entry(name: "layer.weight", shape: [2, 3], values: [1, -2, 3, 4.5, -5, 6e-7]),
      SafeTensorsFile.Entry(name: "bn.num_batches_tracked", shape: [], values: [12], type: .int64),
      SafeTensorsFile.Entry(name: "empty", shape: [0], values: []),
    ]
    let bytes = try SafeTensorsFile.write(entries, metadata: ["format": "pt"], to: path)
    #expect(bytes == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
    let read = try SafeTensorsFile.read(path: path)
    #expect(read.map(\.name) == entries.map(\.name))
    #expect(read.map(\.shape) == entries.map(\.shape) && read.map(\.values) == entries.map(\.values))
    // Header length a multiple of 8; data 24 + 8 + 0 bytes after it.
    let length = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8).withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self)) }
    #expect(length % 8 == 0 && bytes == 8 + length + 32)

    let twice = #expect(throws: DataError.self) { _ = try SafeTensorsFile.serialize([entries[0], entries[0]]) }
    #expect(twice?.description == "safetensors: tensor name layer.weight is given twice or reserved")
    let short = #expect(throws: DataError.self) { _ = try SafeTensorsFile.serialize([.init(name: "a", shape: [2, 2], values: [1])]) }
    #expect(short?.description == "safetensors: tensor a has 1 values for shape [2, 2]")
    let fraction = #expect(throws: DataError.self) { _ = try SafeTensorsFile.serialize([.init(name: "n", shape: [], values: [0.5], type: .int64)]) }
    #expect(fraction?.description == "safetensors: tensor n holds 0.5, not a whole number within Int64 for I64")
  }
}
