import Foundation
import ModelFool
import SwiftProtobuf

/// Implementation note: ONNX files are protocol buffers (`onnx.proto`, compiled to
/// `onnx.pb.swift` by `make onnx-proto`). Reading is bounded like every reader of the project:
/// the file's size is checked before it is read; protobuf nesting is limited; node and
/// initializer counts are checked; every tensor's element count is computed with overflow checks
/// and compared with the bytes it really has (raw data, typed lists, or an external file inside
/// the model's folder whose size is checked) before anything is allocated. What comes out is a
/// ``GraphDefinition`` plus the float initializers' values; the graph itself (cycles, undefined
/// tensors, operators, shapes) is checked by ``GraphNetwork`` when the model is built.

/// Why an ONNX file was refused.
public struct ONNXError: SettingsError, Sendable, Equatable {
  /// The kind of refusal.
  public enum Kind: String, Sendable, Equatable {
    /// The file is missing, unreadable or over the size limit.
    case file
    /// The bytes are not an ONNX model (protobuf decoding failed).
    case notONNX
    /// More nodes or initializers than allowed.
    case limit
    /// A tensor's size, data type or data does not hold together.
    case tensor
    /// External tensor data missing, outside the model's folder, or too short.
    case externalData
    /// A graph-valued attribute (If, Loop, Scan bodies): not supported.
    case subgraph
    /// The graph's inputs, outputs or opset are not those of an image or feature classifier.
    case interface
    /// The graph does not check (``GraphError``: cycles, undefined tensors, unsupported operators,
    /// shapes).
    case graph
  }

  /// The kind.
  public let kind: Kind
  /// The one-line message, naming the file and the node or tensor.
  public let description: String
  /// Refusals concern the `model` setting.
  public var settings: [String] { ["model"] }

  /// An error of `kind`.
  public init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = DataError.oneLine(description)
  }
}

/// Reads ONNX models into graph descriptions.
public enum ONNXReader {
  /// The largest ONNX file read (1 GiB; protobuf itself stops at 2 GiB).
  public static let maximumFileBytes = 1 << 30
  /// The most initializers a graph may have.
  public static let maximumInitializers = 100_000
  /// The deepest protobuf nesting accepted.
  public static let maximumNesting = 32

  /// An imported model: the graph, the float initializers' values and the file's metadata.
  public struct Imported {
    /// The graph description (no weights).
    public var definition: GraphDefinition
    /// Float initializers by name.
    public var values: [String: Tensor]
    /// The file's `metadata_props`.
    public var metadata: [String: String]
    /// `producer_name producer_version`.
    public var producer: String
  }

  /// Reads the model at `path` (external tensor data only from files in the same folder tree).
  ///
  /// - Throws: ``ONNXError`` naming the file and what is wrong.
  public static func read(_ path: String, maximumBytes: Int = maximumFileBytes) throws -> Imported {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    guard let size = (attributes?[.size] as? NSNumber)?.intValue, attributes?[.type] as? FileAttributeType == .typeRegular else {
      throw ONNXError(.file, "\(path): no such ONNX file")
    }
    guard size <= maximumBytes else { throw ONNXError(.file, "\(path): \(size) bytes, more than the \(maximumBytes) allowed for an ONNX model") }
    guard let data = FileManager.default.contents(atPath: path), data.count == size else {
      throw ONNXError(.file, "\(path): cannot read the file")
    }
    let folder = (path as NSString).deletingLastPathComponent
    return try read(bytes: data, source: path, folder: folder.isEmpty ? "." : folder)
  }

  /// Reads a model from `bytes`; `source` names it in messages; external data is looked up in
  /// `folder` (refused when nil).
  public static func read(bytes: Data, source: String, folder: String?) throws -> Imported {
    var options = BinaryDecodingOptions()
    options.messageDepthLimit = maximumNesting
    let model: Onnx_ModelProto
    do { model = try Onnx_ModelProto(serializedBytes: bytes, options: options) } catch {
      throw ONNXError(.notONNX, "\(source): not an ONNX model (protobuf: \(error))")
    }
    guard model.hasGraph else { throw ONNXError(.notONNX, "\(source): not an ONNX model (no graph)") }
    let opsets = model.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
    guard let opset = opsets.first.map({ Int($0.version) }), (7...23).contains(opset) else {
      throw ONNXError(.interface, "\(source): the default-domain opset is missing or outside 7...23")
    }
    let graph = model.graph
    guard graph.node.count <= GraphNetwork.maximumNodes else {
      throw ONNXError(.limit, "\(source): \(graph.node.count) nodes, more than the \(GraphNetwork.maximumNodes) allowed")
    }
    guard graph.initializer.count <= maximumInitializers else {
      throw ONNXError(.limit, "\(source): \(graph.initializer.count) initializers, more than the \(maximumInitializers) allowed")
    }
    guard graph.sparseInitializer.isEmpty else { throw ONNXError(.tensor, "\(source): sparse initializers are not supported") }
    let tensors = TensorDecoder(source: source, folder: folder)

    // Nodes and their attributes.
    var nodes: [GraphNodeSpec] = []
    nodes.reserveCapacity(graph.node.count)
    for node in graph.node {
      var spec = GraphNodeSpec(name: node.name, op: node.opType, inputs: node.input, outputs: node.output)
      guard node.domain.isEmpty || node.domain == "ai.onnx" else {
        throw ONNXError(.graph, "\(source): \(spec.label): operator domain '\(node.domain.prefix(40))' is not supported")
      }
      for attribute in node.attribute {
        spec.attributes[attribute.name] = try convert(attribute, node: spec, tensors)
      }
      nodes.append(spec)
    }

    // Initializers: floats become parameters, integers constants.
    let roles = trainableUses(nodes)
    let used = Set(nodes.flatMap(\.inputs))
    var parameters: [GraphParameterSpec] = []
    var values: [String: Tensor] = [:]
    var constants: [String: GraphConstant] = [:]
    for initializer in graph.initializer where used.contains(initializer.name) {
      let name = initializer.name
      guard values[name] == nil, constants[name] == nil else { throw ONNXError(.graph, "\(source): initializer '\(name)' is defined twice") }
      switch try tensors.decode(initializer, "initializer '\(name)'") {
      case .floats(let shape, let v):
        parameters.append(GraphParameterSpec(name: name, shape: shape, isTrainable: roles.contains(name)))
        values[name] = Tensor(shape: shape, scalars: v)
      case let c: constants[name] = c
      }
    }

    // One float input (graph inputs that are initializers are older exporters' way of listing
    // them) and one output.
    let initializerNames = Set(graph.initializer.map(\.name))
    let inputs = graph.input.filter { !initializerNames.contains($0.name) }
    guard inputs.count == 1, let input = inputs.first else {
      throw ONNXError(.interface, "\(source): the graph has \(inputs.count) inputs; one image or feature tensor is needed")
    }
    let inputShape = try exampleShape(input, source)
    guard graph.output.count == 1 else {
      throw ONNXError(.interface, "\(source): the graph has \(graph.output.count) outputs; one logits tensor is needed")
    }
    let definition = GraphDefinition(
      inputName: input.name, inputShape: inputShape, outputName: graph.output[0].name, parameters: parameters,
      constants: constants, nodes: nodes, opset: opset)
    var metadata: [String: String] = [:]
    for entry in model.metadataProps.prefix(1000) { metadata[entry.key] = entry.value }
    return Imported(
      definition: definition, values: values, metadata: metadata,
      producer: "\(model.producerName) \(model.producerVersion)".trimmingCharacters(in: .whitespaces))
  }

  /// Builds the model of an imported graph.
  ///
  /// - Throws: ``ONNXError`` of kind `graph` with the ``GraphError``'s message.
  public static func model(_ imported: Imported, source: String, classNames: [String] = [], preprocessing: String = "") throws -> Model {
    do {
      return try GraphModel.model(imported.definition, values: imported.values, classNames: classNames, preprocessing: preprocessing)
    } catch let error as GraphError {
      throw ONNXError(.graph, "\(source): \(error.message)")
    }
  }

  /// Names of initializers that fine-tuning may change: weights and biases of Conv, Gemm and
  /// MatMul, BatchNorm's scale and shift, and operands of Add (biases added after a MatMul).
  /// Everything else (BatchNorm statistics, normalisation constants, clip bounds) is a buffer.
  static func trainableUses(_ nodes: [GraphNodeSpec]) -> Set<String> {
    var names: Set<String> = []
    for node in nodes {
      let positions: [Int]
      switch node.op {
      case "Conv", "Gemm", "BatchNormalization": positions = [1, 2]
      case "MatMul", "Add": positions = [0, 1]
      default: positions = []
      }
      for i in positions where i < node.inputs.count { names.insert(node.inputs[i]) }
    }
    return names
  }

  /// One example's shape: the input's dimensions after the batch axis, which must be fixed.
  static func exampleShape(_ input: Onnx_ValueInfoProto, _ source: String) throws -> [Int] {
    guard input.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
      throw ONNXError(.interface, "\(source): input '\(input.name)' is not a float32 tensor")
    }
    let dims = input.type.tensorType.shape.dim
    guard dims.count >= 2, dims.count <= 8 else {
      throw ONNXError(.interface, "\(source): input '\(input.name)' has rank \(dims.count); a batch axis and 1 to 7 more are needed")
    }
    return try dims.dropFirst().enumerated().map { i, d in
      guard case .dimValue(let v)? = d.value, v >= 1, v <= 1 << 24 else {
        throw ONNXError(.interface, "\(source): input '\(input.name)' dimension \(i + 1) is not a fixed size")
      }
      return Int(v)
    }
  }

  /// One node attribute; graphs, sparse tensors, type protos and references are refused.
  static func convert(_ a: Onnx_AttributeProto, node: GraphNodeSpec, _ tensors: TensorDecoder) throws -> NodeAttribute {
    let label = "\(tensors.source): \(node.label)"
    if a.hasG || !a.graphs.isEmpty || a.type == .graph || a.type == .graphs {
      throw ONNXError(.subgraph, "\(label): attribute '\(a.name)' holds a subgraph (control flow is not supported)")
    }
    guard a.refAttrName.isEmpty else { throw ONNXError(.graph, "\(label): attribute '\(a.name)' refers to a function attribute") }
    switch a.type {
    case .float: return .float(a.f)
    case .int: return .int(Int(a.i))
    case .string: return .string(String(decoding: a.s.prefix(256), as: UTF8.self))
    case .floats: return .floats(a.floats)
    case .ints: return .ints(a.ints.map { Int($0) })
    case .tensor: return .tensor(try tensors.decode(a.t, "\(node.label) attribute '\(a.name)'"))
    default:
      throw ONNXError(.graph, "\(label): attribute '\(a.name)' has a kind (\(a.type)) that is not supported")
    }
  }
}
