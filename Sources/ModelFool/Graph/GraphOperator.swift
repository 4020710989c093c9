/// The operators a graph may use, with their attributes read and checked once when the graph is
/// built (ONNX semantics, opsets 7 to 21). Anything else is refused with a one-line error naming
/// the operator and the node.

/// Padding rule of a convolution or pooling window (ONNX `auto_pad`).
enum AutoPad: String {
  case notSet = "NOTSET", valid = "VALID", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER"
}

/// A 2-D sliding window: kernel, strides, dilations, explicit pads (top, left, bottom, right),
/// `auto_pad` and `ceil_mode`.
struct WindowAttributes {
  var kernel: (Int, Int)?
  var strides: (Int, Int)
  var dilations: (Int, Int)
  var pads: [Int]
  var autoPad: AutoPad
  var ceilMode: Bool

  /// The engine geometry for an `h` x `w` input with kernel `kernel`.
  func geometry(h: Int, w: Int, kernel k: (Int, Int), _ label: String) throws -> ConvGeometry {
    var p = pads
    switch autoPad {
    case .notSet: break
    case .valid: p = [0, 0, 0, 0]
    case .sameUpper, .sameLower:
      var begin = [0, 0], end = [0, 0]
      for (i, (size, kk, s, d)) in [(h, k.0, strides.0, dilations.0), (w, k.1, strides.1, dilations.1)].enumerated() {
        let out = (size + s - 1) / s
        let total = Swift.max((out - 1) * s + (kk - 1) * d + 1 - size, 0)
        begin[i] = autoPad == .sameUpper ? total / 2 : total - total / 2
        end[i] = total - begin[i]
      }
      p = [begin[0], begin[1], end[0], end[1]]
    }
    if ceilMode {
      // PyTorch's rule: round the output size up, but the last window must start inside the
      // input or the leading padding; extra trailing padding gives that size.
      for (i, (size, kk, s, d)) in [(h, k.0, strides.0, dilations.0), (w, k.1, strides.1, dilations.1)].enumerated() {
        let effective = (kk - 1) * d + 1
        let span = size + p[i] + p[i + 2] - effective
        guard span >= 0 else { break }
        var out = (span + s - 1) / s + 1
        if (out - 1) * s >= size + p[i] { out -= 1 }
        p[i + 2] += Swift.max(0, (out - 1) * s + effective - (size + p[i] + p[i + 2]))
      }
    }
    let g = ConvGeometry(
      kernel: k, stride: strides, padding: (top: p[0], bottom: p[2], left: p[1], right: p[3]), dilation: dilations)
    guard g.outputSize(h: h, w: w) != nil else {
      throw GraphError("\(label): window (\(g)) does not fit an input of \(h)x\(w)")
    }
    return g
  }
}

/// How an elementwise binary operator combines its inputs.
enum BinaryKind: String { case add = "Add", sub = "Sub", mul = "Mul", div = "Div" }

/// One checked operator.
enum GraphOperator {
  case conv(WindowAttributes, groups: Int)
  case batchNorm(epsilon: Float)
  case relu
  case leakyRelu(alpha: Float)
  case sigmoid
  case tanh
  case hardSigmoid(alpha: Float, beta: Float)
  case hardSwish
  /// Bounds from attributes (opset < 11); from inputs 1 and 2 when nil.
  case clip(low: Float?, high: Float?)
  case binary(BinaryKind)
  case maxPool(WindowAttributes)
  case averagePool(WindowAttributes, countIncludePad: Bool)
  case globalAveragePool
  /// Axes from the attribute; from input 1 (opset 18) when nil.
  case reduceMean(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
  case flatten(axis: Int)
  case reshape(allowZero: Bool)
  case transpose(permutation: [Int]?)
  case squeeze(axes: [Int]?)
  case unsqueeze(axes: [Int]?)
  case gemm(alpha: Float, beta: Float, transposeA: Bool, transposeB: Bool)
  case matMul
  case concat(axis: Int)
  /// Pads and value from attributes (opset < 11); from inputs 1 to 3 when nil.
  case pad(pads: [Int]?, value: Float)
  /// `legacy`: opset < 13, where the input is flattened to 2-D at `axis`.
  case softmax(axis: Int, legacy: Bool)
  case identity
  case constant(GraphConstant)
  case shape(start: Int, end: Int?)
  case gather(axis: Int)
  case cast(to: Int)
  /// Starts, ends, axes and steps from attributes (opset < 10); from inputs when nil.
  case slice(starts: [Int]?, ends: [Int]?, axes: [Int]?)
  /// A tensor of the shape given by input 0 filled with the one value of `value`.
  case constantOfShape(value: GraphConstant)

  /// The operators accepted, for messages and documentation.
  static let supported = [
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Dropout",
    "Flatten", "Gather", "Gemm", "GlobalAveragePool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu",
    "MatMul", "MaxPool", "Mul", "Pad", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax",
    "Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
  ]

  /// Reads and checks the attributes of `node` (opset `opset` of the default domain).
  init(_ node: GraphNodeSpec, opset: Int) throws {
    guard Self.supported.contains(node.op) else {
      throw GraphError("\(node.label): operator '\(node.op.prefix(40))' is not supported (supported: \(Self.supported.joined(separator: ", ")))")
    }
    let a = AttributeReader(node: node)
    try a.checkNoUnknown(Self.knownAttributes[node.op] ?? [])
    switch node.op {
    case "Conv":
      self = .conv(try a.window(isConv: true), groups: try a.int("group", 1, minimum: 1))
    case "BatchNormalization":
      if try a.int("training_mode", 0, minimum: 0) != 0 {
        throw GraphError("\(node.label): training_mode=1 is not supported (inference graphs only)")
      }
      self = .batchNorm(epsilon: try a.float("epsilon", 1e-5))
    case "Relu": self = .relu
    case "LeakyRelu": self = .leakyRelu(alpha: try a.float("alpha", 0.01))
    case "Sigmoid": self = .sigmoid
    case "Tanh": self = .tanh
    case "HardSigmoid": self = .hardSigmoid(alpha: try a.float("alpha", 0.2), beta: try a.float("beta", 0.5))
    case "HardSwish": self = .hardSwish
    case "Clip":
      self = opset < 11
        ? .clip(low: try a.float("min", -.greatestFiniteMagnitude), high: try a.float("max", .greatestFiniteMagnitude))
        : .clip(low: nil, high: nil)
    case "Add", "Sub", "Mul", "Div": self = .binary(BinaryKind(rawValue: node.op)!)
    case "MaxPool":
      if node.outputs.count > 1, !node.outputs[1].isEmpty {
        throw GraphError("\(node.label): the Indices output is not supported")
      }
      if try a.int("storage_order", 0, minimum: 0) != 0 { throw GraphError("\(node.label): storage_order=1 is not supported") }
      self = .maxPool(try a.window(isConv: false))
    case "AveragePool":
      self = .averagePool(try a.window(isConv: false), countIncludePad: try a.int("count_include_pad", 0, minimum: 0) != 0)
    case "GlobalAveragePool": self = .globalAveragePool
    case "ReduceMean":
      self = .reduceMean(
        axes: opset < 18 ? (try a.intsOptional("axes") ?? []) : nil, keepDims: try a.int("keepdims", 1, minimum: 0) != 0,
        noopWithEmptyAxes: try a.int("noop_with_empty_axes", 0, minimum: 0) != 0)
    case "Flatten": self = .flatten(axis: try a.int("axis", 1, minimum: Int.min))
    case "Reshape": self = .reshape(allowZero: try a.int("allowzero", 0, minimum: 0) != 0)
    case "Transpose": self = .transpose(permutation: try a.intsOptional("perm"))
    case "Squeeze": self = .squeeze(axes: opset < 13 ? (try a.intsOptional("axes") ?? []) : nil)
    case "Unsqueeze":
      if opset < 13 {
        guard let axes = try a.intsOptional("axes") else { throw GraphError("\(node.label): missing attribute 'axes'") }
        self = .unsqueeze(axes: axes)
      } else {
        self = .unsqueeze(axes: nil)
      }
    case "Gemm":
      self = .gemm(
        alpha: try a.float("alpha", 1), beta: try a.float("beta", 1),
        transposeA: try a.int("transA", 0, minimum: 0) != 0, transposeB: try a.int("transB", 0, minimum: 0) != 0)
    case "MatMul": self = .matMul
    case "Concat":
      guard let axis = try a.intOptional("axis") else { throw GraphError("\(node.label): missing attribute 'axis'") }
      self = .concat(axis: axis)
    case "Pad":
      let mode = try a.string("mode", "constant")
      guard mode == "constant" else { throw GraphError("\(node.label): pad mode '\(mode.prefix(20))' is not supported (only constant)") }
      self = opset < 11 ? .pad(pads: try a.intsOptional("pads") ?? [], value: try a.float("value", 0)) : .pad(pads: nil, value: 0)
    case "Softmax": self = .softmax(axis: try a.int("axis", opset < 13 ? 1 : -1, minimum: Int.min), legacy: opset < 13)
    case "Identity", "Dropout":
      if node.op == "Dropout", node.outputs.count > 1, !node.outputs[1].isEmpty {
        throw GraphError("\(node.label): the mask output is not supported")
      }
      self = .identity
    case "Constant": self = .constant(try a.constantValue())
    case "Shape": self = .shape(start: try a.int("start", 0, minimum: Int.min), end: try a.intOptional("end"))
    case "Gather": self = .gather(axis: try a.int("axis", 0, minimum: Int.min))
    case "Cast":
      guard let to = try a.intOptional("to") else { throw GraphError("\(node.label): missing attribute 'to'") }
      guard [1, 6, 7, 10, 11].contains(to) else {
        throw GraphError("\(node.label): cast to ONNX type \(to) is not supported (float and integer types only)")
      }
      self = .cast(to: to)
    case "Slice":
      self = opset < 10
        ? .slice(starts: try a.intsOptional("starts") ?? [], ends: try a.intsOptional("ends") ?? [], axes: try a.intsOptional("axes"))
        : .slice(starts: nil, ends: nil, axes: nil)
    case "ConstantOfShape":
      let value = try node.attributes["value"] == nil ? GraphConstant.floats(shape: [1], values: [0]) : a.constantValue()
      guard value.shape.reduce(1, *) == 1 else { throw GraphError("\(node.label): value must hold one element") }
      self = .constantOfShape(value: value)
    default:
      throw GraphError("\(node.label): operator '\(node.op.prefix(40))' has no evaluation")
    }
  }

  /// Attributes each operator may carry (others are refused rather than silently ignored).
  static let knownAttributes: [String: Set<String>] = [
    "Conv": ["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
    "BatchNormalization": ["epsilon", "momentum", "training_mode", "spatial"],
    "LeakyRelu": ["alpha"], "HardSigmoid": ["alpha", "beta"], "Clip": ["min", "max"],
    "MaxPool": ["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"],
    "AveragePool": ["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"],
    "ReduceMean": ["axes", "keepdims", "noop_with_empty_axes"], "Flatten": ["axis"], "Reshape": ["allowzero"],
    "Transpose": ["perm"], "Squeeze": ["axes"], "Unsqueeze": ["axes"], "Gemm": ["alpha", "beta", "transA", "transB"],
    "Concat": ["axis"], "Pad": ["mode", "pads", "value"], "Softmax": ["axis"], "Dropout": ["ratio", "seed", "is_test"],
    "Constant": ["value", "value_float", "value_floats", "value_int", "value_ints"], "Shape": ["start", "end"],
    "Gather": ["axis"], "Cast": ["to", "saturate", "round_mode"], "Slice": ["starts", "ends", "axes"], "ConstantOfShape": ["value"],
  ]
}

/// Typed access to a node's attributes with one-line errors.
struct AttributeReader {
  let node: GraphNodeSpec

  func checkNoUnknown(_ known: Set<String>) throws {
    if let bad = node.attributes.keys.sorted().first(where: { !known.contains($0) }) {
      throw GraphError("\(node.label): attribute '\(bad.prefix(40))' is not supported")
    }
  }

  func intOptional(_ name: String) throws -> Int? {
    guard let v = node.attributes[name] else { return nil }
    guard case .int(let i) = v else { throw GraphError("\(node.label): attribute '\(name)' is not an integer") }
    return i
  }

  func int(_ name: String, _ def: Int, minimum: Int) throws -> Int {
    let v = try intOptional(name) ?? def
    guard v >= minimum else { throw GraphError("\(node.label): attribute \(name)=\(v) is below \(minimum)") }
    return v
  }

  func intsOptional(_ name: String) throws -> [Int]? {
    guard let v = node.attributes[name] else { return nil }
    guard case .ints(let i) = v else { throw GraphError("\(node.label): attribute '\(name)' is not a list of integers") }
    return i
  }

  func float(_ name: String, _ def: Float) throws -> Float {
    guard let v = node.attributes[name] else { return def }
    guard case .float(let f) = v, !f.isNaN else { throw GraphError("\(node.label): attribute '\(name)' is not a number") }
    return f
  }

  func string(_ name: String, _ def: String) throws -> String {
    guard let v = node.attributes[name] else { return def }
    guard case .string(let s) = v else { throw GraphError("\(node.label): attribute '\(name)' is not a string") }
    return s
  }

  /// A pair of positive integers from a two-element list attribute.
  func pair(_ name: String, _ def: (Int, Int)) throws -> (Int, Int) {
    guard let list = try intsOptional(name) else { return def }
    guard list.count == 2, list.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }) else {
      throw GraphError("\(node.label): attribute \(name)=\(list.prefix(6)) is not two positive integers (2-D windows only)")
    }
    return (list[0], list[1])
  }

  func window(isConv: Bool) throws -> WindowAttributes {
    let kernel = try node.attributes["kernel_shape"] == nil ? nil : pair("kernel_shape", (1, 1))
    if !isConv, kernel == nil { throw GraphError("\(node.label): missing attribute 'kernel_shape'") }
    let pads = try intsOptional("pads") ?? [0, 0, 0, 0]
    guard pads.count == 4, pads.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else {
      throw GraphError("\(node.label): attribute pads=\(pads.prefix(8)) is not four non-negative integers (2-D windows only)")
    }
    let autoText = try string("auto_pad", "NOTSET")
    guard let autoPad = AutoPad(rawValue: autoText) else {
      throw GraphError("\(node.label): auto_pad '\(autoText.prefix(20))' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
    }
    let dilations = try pair("dilations", (1, 1))
    if node.op == "AveragePool", dilations != (1, 1) { throw GraphError("\(node.label): dilated average pooling is not supported") }
    return WindowAttributes(
      kernel: kernel, strides: try pair("strides", (1, 1)), dilations: dilations, pads: pads, autoPad: autoPad,
      ceilMode: try int("ceil_mode", 0, minimum: 0) != 0)
  }

  /// The value of a `Constant` node.
  func constantValue() throws -> GraphConstant {
    guard node.attributes.count == 1, let (name, value) = node.attributes.first else {
      throw GraphError("\(node.label): needs exactly one value attribute")
    }
    switch (name, value) {
    case ("value", .tensor(let t)): return t
    case ("value_float", .float(let f)): return .floats(shape: [], values: [f])
    case ("value_floats", .floats(let f)): return .floats(shape: [f.count], values: f)
    case ("value_int", .int(let i)): return .ints(shape: [], values: [i])
    case ("value_ints", .ints(let i)): return .ints(shape: [i.count], values: i)
    default: throw GraphError("\(node.label): attribute '\(name.prefix(40))' is not a supported constant")
    }
  }
}
