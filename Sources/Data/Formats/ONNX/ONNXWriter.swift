import Foundation
import ModelFool
import SwiftProtobuf

/// Implementation note: the writer is the reader's inverse. A ``GraphDefinition`` (nodes with
/// their attributes, integer constants, parameter names and shapes) plus the parameters' values
/// becomes an `Onnx_ModelProto`: parameters and constants as initializers (Float32 or int64,
/// little-endian `raw_data`), nodes in the definition's order, one float input with a symbolic
/// batch axis `N`, one float output. Everything is kept in the one protobuf message (no external
/// data), so a model must stay below protobuf's 2 GiB; the writer refuses a larger one before
/// serialising. Reading the file back with ``ONNXReader`` gives the same definition and values.

/// Writes graph descriptions as ONNX models.
public enum ONNXWriter {
  /// The largest model written: protobuf's limit of 2 GiB, less a margin for the graph itself.
  public static let maximumTensorBytes = (1 << 31) - (1 << 24)

  /// The ONNX IR version that goes with a default-domain opset (the oldest that defines it).
  public static func irVersion(forOpset opset: Int) -> Int {
    switch opset {
    case ...8: 4
    case 9: 4
    case 10: 5
    case 11: 6
    case 12...14: 7
    case 15...18: 8
    case 19...20: 9
    case 21...22: 10
    default: 11
    }
  }

  /// The serialised model of `definition`, with `values` giving every parameter's tensor (by
  /// name), `outputCount` the logits' size (nil leaves it symbolic) and `metadata` stored as the
  /// model's `metadata_props`.
  ///
  /// - Throws: ``ONNXError`` of kind `tensor` when a value is missing, has the wrong shape or holds
  ///   NaN or infinite values, or of kind `limit` when the tensors exceed ``maximumTensorBytes``.
  public static func serialize(
    _ definition: GraphDefinition, values: [String: Tensor], outputCount: Int? = nil, metadata: [String: String] = [:],
    producer: (name: String, version: String) = ("modelfool", "")
  ) throws -> Data {
    var total = 0
    for spec in definition.parameters {
      guard let value = values[spec.name] else { throw ONNXError(.tensor, "parameter '\(spec.name)' has no value to export") }
      guard value.shape == spec.shape else {
        throw ONNXError(.tensor, "parameter '\(spec.name)' has shape \(value.shape), the graph declares \(spec.shape)")
      }
      total += 4 * value.count
    }
    for (_, c) in definition.constants { total += 8 * c.shape.reduce(1, *) }
    guard total <= maximumTensorBytes else {
      throw ONNXError(.limit, "the model's \(total) bytes of tensors exceed ONNX's 2 GiB protobuf limit (external data is not written)")
    }

    var graph = Onnx_GraphProto()
    graph.name = "modelfool"
    for spec in definition.parameters {
      graph.initializer.append(try tensorProto(.floats(shape: spec.shape, values: values[spec.name]!.scalars), name: spec.name))
    }
    for (name, c) in definition.constants.sorted(by: { $0.key < $1.key }) {
      graph.initializer.append(try tensorProto(c, name: name))
    }
    for spec in definition.nodes {
      var node = Onnx_NodeProto()
      node.name = spec.name
      node.opType = spec.op
      node.input = spec.inputs
      node.output = spec.outputs
      for (name, value) in spec.attributes.sorted(by: { $0.key < $1.key }) {
        node.attribute.append(try attributeProto(value, name: name, node: spec))
      }
      graph.node.append(node)
    }
    graph.input = [valueInfo(definition.inputName, dims: definition.inputShape.map { Int64($0) })]
    graph.output = [valueInfo(definition.outputName, dims: outputCount.map { [Int64($0)] })]

    var model = Onnx_ModelProto()
    model.irVersion = Int64(irVersion(forOpset: definition.opset))
    var opset = Onnx_OperatorSetIdProto()
    opset.domain = ""
    opset.version = Int64(definition.opset)
    model.opsetImport = [opset]
    model.producerName = producer.name
    model.producerVersion = producer.version
    model.graph = graph
    model.metadataProps = metadata.sorted(by: { $0.key < $1.key }).map { key, value in
      var entry = Onnx_StringStringEntryProto()
      entry.key = key
      entry.value = value
      return entry
    }
    do { return try model.serializedBytes() } catch {
      throw ONNXError(.limit, "cannot serialise the ONNX model (\(error))")
    }
  }

  /// Writes the model of ``serialize(_:values:outputCount:metadata:producer:)`` to `path`
  /// atomically (``AtomicFile``); returns the number of bytes written.
  @discardableResult
  public static func write(
    _ definition: GraphDefinition, values: [String: Tensor], outputCount: Int? = nil, metadata: [String: String] = [:],
    producer: (name: String, version: String) = ("modelfool", ""), to path: String
  ) throws -> Int {
    let bytes = try serialize(definition, values: values, outputCount: outputCount, metadata: metadata, producer: producer)
    try AtomicFile.write(to: path) { temporary in try bytes.write(to: URL(fileURLWithPath: temporary)) }
    return bytes.count
  }

  /// A graph input or output: float32, batch axis `N`, then `dims` (nil: rank unknown after `N`).
  private static func valueInfo(_ name: String, dims: [Int64]?) -> Onnx_ValueInfoProto {
    var info = Onnx_ValueInfoProto()
    info.name = name
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    if let dims {
      var shape = Onnx_TensorShapeProto()
      var batch = Onnx_TensorShapeProto.Dimension()
      batch.dimParam = "N"
      shape.dim = [batch] + dims.map { d in
        var dim = Onnx_TensorShapeProto.Dimension()
        dim.dimValue = d
        return dim
      }
      tensor.shape = shape
    }
    var type = Onnx_TypeProto()
    type.tensorType = tensor
    info.type = type
    return info
  }

  /// A Float32 or int64 tensor with little-endian raw data.
  static func tensorProto(_ constant: GraphConstant, name: String) throws -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dims = constant.shape.map { Int64($0) }
    switch constant {
    case .floats(_, let values):
      guard values.allSatisfy({ $0.isFinite }) else { throw ONNXError(.tensor, "tensor '\(name)' holds NaN or infinite values") }
      t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
      t.rawData = littleEndianBytes(values)
    case .ints(_, let values):
      t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
      var raw = Data(count: 8 * values.count)
      raw.withUnsafeMutableBytes { out in
        for (i, v) in values.enumerated() { out.storeBytes(of: Int64(v).littleEndian, toByteOffset: 8 * i, as: Int64.self) }
      }
      t.rawData = raw
    }
    return t
  }

  /// The little-endian bytes of Float32 values (one copy on little-endian machines).
  static func littleEndianBytes(_ values: [Float]) -> Data {
    #if _endian(little)
      return values.withUnsafeBytes { Data($0) }
    #else
      return Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    #endif
  }

  /// One node attribute.
  private static func attributeProto(_ value: NodeAttribute, name: String, node: GraphNodeSpec) throws -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    switch value {
    case .int(let i):
      a.type = .int
      a.i = Int64(i)
    case .ints(let list):
      a.type = .ints
      a.ints = list.map { Int64($0) }
    case .float(let f):
      a.type = .float
      a.f = f
    case .floats(let list):
      a.type = .floats
      a.floats = list
    case .string(let s):
      a.type = .string
      a.s = Data(s.utf8)
    case .tensor(let c):
      a.type = .tensor
      a.t = try tensorProto(c, name: "")
    }
    return a
  }
}
