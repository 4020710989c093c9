/// Implementation note: an imported network (ONNX) is kept as a plain, Codable description of its
/// graph: nodes with an op name, input and output tensor names and attributes, integer and small
/// float constants, and the names and shapes of its parameters (the float initializers). The
/// description holds no weights, so it fits in a checkpoint's `config` and rebuilds the network
/// (``GraphNetwork``) before the weights are loaded, like a zoo architecture's options do. The
/// reader that turns a file into a description lives in ModelFoolData (`ONNXReader`); this
/// target knows nothing of protobuf.

/// A constant tensor of a graph: float values (a `Constant` node) or integers (shapes, axes,
/// indices), row-major.
public enum GraphConstant: Codable, Sendable, Equatable {
  /// Float32 values with their shape.
  case floats(shape: [Int], values: [Float])
  /// Integer values with their shape.
  case ints(shape: [Int], values: [Int])

  /// The constant's shape.
  public var shape: [Int] {
    switch self {
    case .floats(let s, _), .ints(let s, _): s
    }
  }
}

/// One attribute of a graph node (the ONNX attribute kinds a CNN export uses).
public enum NodeAttribute: Codable, Sendable, Equatable {
  case int(Int)
  case ints([Int])
  case float(Float)
  case floats([Float])
  case string(String)
  case tensor(GraphConstant)
}

/// One node: an operator applied to named input tensors, producing named output tensors.
public struct GraphNodeSpec: Codable, Sendable, Equatable {
  /// The node's name (may be empty in the file; messages then use its first output).
  public var name: String
  /// The operator (`Conv`, `Relu`, ...).
  public var op: String
  /// Input tensor names; `""` marks an omitted optional input.
  public var inputs: [String]
  /// Output tensor names; `""` marks an omitted optional output.
  public var outputs: [String]
  /// Attributes by name.
  public var attributes: [String: NodeAttribute]

  /// A node with the given fields.
  public init(name: String, op: String, inputs: [String], outputs: [String], attributes: [String: NodeAttribute] = [:]) {
    self.name = name
    self.op = op
    self.inputs = inputs
    self.outputs = outputs
    self.attributes = attributes
  }

  /// How messages name the node: `Conv node 'conv1'` (its first output when it has no name).
  public var label: String { "\(op) node '\(name.isEmpty ? (outputs.first ?? "?") : name)'" }
}

/// A trainable weight or buffer of a graph (an ONNX float initializer), without its values.
public struct GraphParameterSpec: Codable, Sendable, Equatable {
  /// The tensor name, also the parameter's name in checkpoints.
  public var name: String
  /// Its shape.
  public var shape: [Int]
  /// False for values that fine-tuning must not change (BatchNorm statistics, normalisation
  /// constants, clip bounds).
  public var isTrainable: Bool

  /// A parameter description.
  public init(name: String, shape: [Int], isTrainable: Bool) {
    self.name = name
    self.shape = shape
    self.isTrainable = isTrainable
  }
}

/// A whole graph: one float input (batch axis first), one float output, nodes in any order
/// (sorted and checked when built).
public struct GraphDefinition: Codable, Sendable, Equatable {
  /// The input tensor's name.
  public var inputName: String
  /// One example's shape (without the batch axis).
  public var inputShape: [Int]
  /// The output tensor's name (the logits).
  public var outputName: String
  /// The float initializers, in file order.
  public var parameters: [GraphParameterSpec]
  /// Integer initializers and any other constants by tensor name.
  public var constants: [String: GraphConstant]
  /// The nodes.
  public var nodes: [GraphNodeSpec]
  /// The opset version of the default domain (some operators changed their inputs with it).
  public var opset: Int

  /// A graph description.
  public init(
    inputName: String, inputShape: [Int], outputName: String, parameters: [GraphParameterSpec],
    constants: [String: GraphConstant], nodes: [GraphNodeSpec], opset: Int
  ) {
    self.inputName = inputName
    self.inputShape = inputShape
    self.outputName = outputName
    self.parameters = parameters
    self.constants = constants
    self.nodes = nodes
    self.opset = opset
  }
}

/// A one-line error from reading, checking or building a graph, naming the node or tensor at
/// fault.
public struct GraphError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The message.
  public let message: String
  /// An error with `message`, its control characters (from names in a hostile file) written as
  /// `\u{XX}` so that it stays one line.
  public init(_ message: String) {
    self.message = message.unicodeScalars.map { s in
      s.value < 0x20 || s.value == 0x7F ? "\\u{\(String(s.value, radix: 16))}" : String(s)
    }.joined()
  }
  public var description: String { message }
}
