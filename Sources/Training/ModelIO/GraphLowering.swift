import Foundation
import ModelFool

/// Implementation note: exporting a zoo network to ONNX is *lowering* its layer tree to a
/// ``GraphDefinition``, the same description an imported ONNX graph becomes. Each exportable layer
/// appends its nodes through a ``GraphBuilder`` and returns the tensor it produced; shapes
/// (without the batch axis) are tracked along, so windows get explicit pads for the input size the
/// model was built for. Names follow the model: parameters are initializers under their
/// state-dict names (`features.0.weight`), a layer's output tensor and node carry its hierarchical
/// name (`layer1.0.conv1`), helper nodes add `/Op` (`normalize/Sub`). The graph is the inference
/// graph whatever the model's mode: BatchNorm uses its running statistics, dropout is the identity.
/// A layer without a mapping stops the export with one line naming it.

/// A tensor of a graph under construction: its name and its shape without the batch axis.
public struct GraphTensor: Sendable, Equatable {
  /// The tensor's name in the graph.
  public var name: String
  /// One example's shape (the batch axis `N` is implicit).
  public var shape: [Int]

  /// A tensor description.
  public init(name: String, shape: [Int]) {
    self.name = name
    self.shape = shape
  }
}

/// A layer that can write itself as graph nodes (ONNX operators, opset ``GraphBuilder/opset``).
/// The zoo's layers conform below; a user's layer conforms to become exportable.
public protocol GraphExportable: Layer {
  /// Appends the nodes computing this layer (full name `name`) on `input` to `graph` and returns
  /// the output tensor.
  ///
  /// - Throws: ``LayerError`` naming the layer when it cannot be written (a sub-layer without a
  ///   mapping, an activation with no ONNX form, a shape it does not accept).
  func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor
}

/// Collects the nodes, parameters and constants of a graph being lowered from layers.
public struct GraphBuilder {
  /// The default-domain opset the nodes are written for.
  public static let opset = 13

  /// The nodes, in execution order.
  public private(set) var nodes: [GraphNodeSpec] = []
  /// The parameters (initializers), in first-use order.
  public private(set) var parameters: [GraphParameterSpec] = []
  /// Parameter values by name.
  public private(set) var values: [String: Tensor] = [:]
  private var taken: Set<String>
  private var parameterObjects: [ObjectIdentifier: String] = [:]

  /// A builder whose graph input is called `inputName`.
  public init(inputName: String) { taken = [inputName] }

  /// Lowers `layer` (full name `name`) on `input`; a layer that does not conform to
  /// ``GraphExportable`` is a one-line error naming it.
  public mutating func lower(_ layer: any Layer, name: String, _ input: GraphTensor) throws -> GraphTensor {
    guard let exportable = layer as? any GraphExportable else {
      throw LayerError("cannot export layer '\(name.isEmpty ? "(root)" : name)' (\(type(of: layer))): it has no ONNX mapping")
    }
    return try exportable.lower(input, name: name, into: &self)
  }

  /// Lowers `children` one after another (a chain), each under `joinLayerName(name, child)`.
  public mutating func chain(_ children: [(name: String, layer: any Layer)], name: String, _ input: GraphTensor) throws -> GraphTensor {
    var x = input
    for c in children { x = try lower(c.layer, name: joinLayerName(name, c.name), x) }
    return x
  }

  /// Appends a node `op` reading `inputs`, named `name` (made unique), writing one tensor of
  /// `shape` under the same name; returns it.
  @discardableResult
  public mutating func node(
    _ op: String, name: String, inputs: [String], attributes: [String: NodeAttribute] = [:], shape: [Int]
  ) -> GraphTensor {
    let unique = uniqueName(name.isEmpty ? op : name)
    nodes.append(GraphNodeSpec(name: unique, op: op, inputs: inputs, outputs: [unique], attributes: attributes))
    return GraphTensor(name: unique, shape: shape)
  }

  /// The initializer holding `parameter` under its state-dict name `name` (added on first use).
  public mutating func parameter(_ parameter: Parameter, name: String) -> String {
    if let known = parameterObjects[ObjectIdentifier(parameter)] { return known }
    let unique = uniqueName(name)
    parameterObjects[ObjectIdentifier(parameter)] = unique
    parameters.append(GraphParameterSpec(name: unique, shape: parameter.shape, isTrainable: parameter.isTrainable))
    values[unique] = parameter.value
    return unique
  }

  /// A `Constant` node holding `values` of `shape` (normalisation constants, clip bounds).
  public mutating func constant(_ values: [Float], shape: [Int], name: String) -> String {
    node("Constant", name: name, inputs: [], attributes: ["value": .tensor(.floats(shape: shape, values: values))], shape: shape).name
  }

  /// Renames the tensor `tensor` (the graph's last, read by no node) to `name`, or adds an
  /// `Identity` node writing `name` when it is the graph input or already read.
  mutating func finish(_ tensor: GraphTensor, as name: String) -> String {
    let read = nodes.contains { $0.inputs.contains(tensor.name) }
    if !read, !taken.contains(name), let i = nodes.lastIndex(where: { $0.outputs == [tensor.name] }) {
      nodes[i].outputs = [name]
      taken.insert(name)
      return name
    }
    let unique = uniqueName(name)
    nodes.append(GraphNodeSpec(name: unique, op: "Identity", inputs: [tensor.name], outputs: [unique]))
    return unique
  }

  private mutating func uniqueName(_ base: String) -> String {
    var candidate = base
    var k = 2
    while taken.contains(candidate) {
      candidate = "\(base)#\(k)"
      k += 1
    }
    taken.insert(candidate)
    return candidate
  }
}

/// Window attributes of a Conv, MaxPool or AveragePool node for `geometry` (explicit pads).
private func windowAttributes(_ g: ConvGeometry) -> [String: NodeAttribute] {
  [
    "kernel_shape": .ints([g.kh, g.kw]), "strides": .ints([g.strideH, g.strideW]),
    "pads": .ints([g.padTop, g.padLeft, g.padBottom, g.padRight]),
  ]
}

/// The `[C, H, W]` of an image tensor, or a one-line error naming the layer.
private func imageShape(_ x: GraphTensor, _ name: String, _ what: String) throws -> (c: Int, h: Int, w: Int) {
  guard x.shape.count == 3 else { throw LayerError("cannot export layer '\(name)' (\(what)): input \(x.shape) is not [C, H, W]") }
  return (x.shape[0], x.shape[1], x.shape[2])
}

/// Spatial output size of a window, or a one-line error.
private func windowOutput(_ g: ConvGeometry, _ x: (c: Int, h: Int, w: Int), _ name: String) throws -> (Int, Int) {
  guard let size = g.outputSize(h: x.h, w: x.w) else {
    throw LayerError("cannot export layer '\(name)': its window (\(g)) does not fit an input of \(x.h)x\(x.w)")
  }
  return size
}

extension Model: GraphExportable {
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    try graph.lower(network, name: name, input)
  }
}

extension Sequential: GraphExportable {
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    try graph.chain(entries, name: name, input)
  }
}

extension Residual: GraphExportable {
  /// `post(body(x) + shortcut(x))`: the two branches, an `Add`, then `post`.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let main = try graph.chain(body, name: name, input)
    let side = try shortcut.map { try graph.lower($0.layer, name: joinLayerName(name, $0.name), input) } ?? input
    guard main.shape == side.shape else {
      throw LayerError("cannot export layer '\(name)': its branches give shapes \(main.shape) and \(side.shape)")
    }
    let sum = graph.node("Add", name: name + "/Add", inputs: [main.name, side.name], shape: main.shape)
    return try post.map { try graph.lower($0.layer, name: joinLayerName(name, $0.name), sum) } ?? sum
  }
}

extension DenseLayer: GraphExportable {
  /// `concat(x, f(x))` along the channels: the branch, then a `Concat` (axis 1).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let f = try graph.chain(branch, name: name, input)
    guard f.shape.count == 3, input.shape.count == 3, f.shape.dropFirst() == input.shape.dropFirst() else {
      throw LayerError("cannot export layer '\(name)': its branch gives \(f.shape) for an input \(input.shape)")
    }
    return graph.node(
      "Concat", name: name, inputs: [input.name, f.name], attributes: ["axis": .int(1)],
      shape: [input.shape[0] + f.shape[0]] + Array(input.shape.dropFirst()))
  }
}

extension Conv2D: GraphExportable {
  /// `Conv` with the weight `[O, C / groups, k, k]`, the optional bias and explicit pads.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "Conv2D")
    guard x.c == inputChannels else {
      throw LayerError("cannot export layer '\(name)': Conv2D takes \(inputChannels) channels, gets \(input.shape)")
    }
    let g = geometry(inputHeight: x.h, inputWidth: x.w)
    let (oh, ow) = try windowOutput(g, x, name)
    var inputs = [input.name, graph.parameter(weight, name: joinLayerName(name, "weight"))]
    if let bias { inputs.append(graph.parameter(bias, name: joinLayerName(name, "bias"))) }
    var attributes = windowAttributes(g)
    attributes["dilations"] = .ints([dilation, dilation])
    attributes["group"] = .int(groups)
    return graph.node("Conv", name: name, inputs: inputs, attributes: attributes, shape: [outputChannels, oh, ow])
  }
}

extension Dense: GraphExportable {
  /// `Gemm` (`transB = 1`) on `[N, in]`; `MatMul` with the transposed weight, then `Add`, on
  /// higher ranks.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    guard input.shape.last == inputSize else {
      throw LayerError("cannot export layer '\(name)': Dense takes \(inputSize) features, gets \(input.shape)")
    }
    let w = graph.parameter(weight, name: joinLayerName(name, "weight"))
    let b = bias.map { graph.parameter($0, name: joinLayerName(name, "bias")) }
    let shape = Array(input.shape.dropLast()) + [outputSize]
    if input.shape.count == 1 {
      return graph.node(
        "Gemm", name: name, inputs: [input.name, w] + (b.map { [$0] } ?? []), attributes: ["transB": .int(1)], shape: shape)
    }
    let wt = graph.node("Transpose", name: name + "/Transpose", inputs: [w], attributes: ["perm": .ints([1, 0])], shape: [inputSize, outputSize])
    let product = graph.node("MatMul", name: b == nil ? name : name + "/MatMul", inputs: [input.name, wt.name], shape: shape)
    guard let b else { return product }
    return graph.node("Add", name: name, inputs: [product.name, b], shape: shape)
  }
}

extension BatchNorm: GraphExportable {
  /// `BatchNormalization` in inference form (running statistics, `epsilon`).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    guard input.shape.first == channels else {
      throw LayerError("cannot export layer '\(name)': BatchNorm has \(channels) channels, gets \(input.shape)")
    }
    let inputs = [input.name] + [
      (weight, "weight"), (bias, "bias"), (runningMean, "running_mean"), (runningVariance, "running_var"),
    ].map { graph.parameter($0.0, name: joinLayerName(name, $0.1)) }
    return graph.node(
      "BatchNormalization", name: name, inputs: inputs, attributes: ["epsilon": .float(epsilon)], shape: input.shape)
  }
}

extension ActivationLayer: GraphExportable {
  /// The current activation: `Relu`, `Clip` [0, 6], `Sigmoid`, `Tanh` or `Identity`; the smooth
  /// activations (softplus) have no exact ONNX form here and are refused.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    switch activation {
    case .relu: return graph.node("Relu", name: name, inputs: [input.name], shape: input.shape)
    case .sigmoid: return graph.node("Sigmoid", name: name, inputs: [input.name], shape: input.shape)
    case .tanh: return graph.node("Tanh", name: name, inputs: [input.name], shape: input.shape)
    case .identity: return graph.node("Identity", name: name, inputs: [input.name], shape: input.shape)
    case .relu6:
      let low = graph.constant([0], shape: [], name: name + "/min")
      let high = graph.constant([6], shape: [], name: name + "/max")
      return graph.node("Clip", name: name, inputs: [input.name, low, high], shape: input.shape)
    case .softplus, .smoothReLU6:
      throw LayerError(
        "cannot export layer '\(name)': its activation \(activation) has no ONNX mapping (export the model with its built activations)")
    }
  }
}

extension Dropout: GraphExportable {
  /// The identity (an inference graph).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    graph.node("Identity", name: name, inputs: [input.name], shape: input.shape)
  }
}

extension Flatten: GraphExportable {
  /// `Flatten` at axis 1.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    graph.node("Flatten", name: name, inputs: [input.name], attributes: ["axis": .int(1)], shape: [input.shape.reduce(1, *)])
  }
}

extension Normalize: GraphExportable {
  /// `(x - mean) * (1 / std)` with the constants `[1, C, 1, 1]` (the engine's own arithmetic).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "Normalize")
    guard x.c == mean.count else {
      throw LayerError("cannot export layer '\(name)': Normalize has \(mean.count) channels, gets \(input.shape)")
    }
    let m = graph.constant(mean, shape: [1, x.c, 1, 1], name: name + "/mean")
    let inv = graph.constant(standardDeviation.map { 1 / $0 }, shape: [1, x.c, 1, 1], name: name + "/inverse_std")
    let centered = graph.node("Sub", name: name + "/Sub", inputs: [input.name, m], shape: input.shape)
    return graph.node("Mul", name: name, inputs: [centered.name, inv], shape: input.shape)
  }
}

extension MaxPool2D: GraphExportable {
  /// `MaxPool` with explicit pads.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "MaxPool2D")
    let g = geometry(inputHeight: x.h, inputWidth: x.w)
    let (oh, ow) = try windowOutput(g, x, name)
    return graph.node("MaxPool", name: name, inputs: [input.name], attributes: windowAttributes(g), shape: [x.c, oh, ow])
  }
}

extension AvgPool2D: GraphExportable {
  /// `AveragePool` with `count_include_pad = 1` (zero padding counts, as in the engine).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "AvgPool2D")
    let g = ConvGeometry(kernel: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding))
    let (oh, ow) = try windowOutput(g, x, name)
    var attributes = windowAttributes(g)
    attributes["count_include_pad"] = .int(1)
    return graph.node("AveragePool", name: name, inputs: [input.name], attributes: attributes, shape: [x.c, oh, ow])
  }
}

extension GlobalAvgPool2D: GraphExportable {
  /// `GlobalAveragePool` then `Flatten`: `[N, C, H, W] -> [N, C]`.
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "GlobalAvgPool2D")
    let pooled = graph.node("GlobalAveragePool", name: name + "/GlobalAveragePool", inputs: [input.name], shape: [x.c, 1, 1])
    return graph.node("Flatten", name: name, inputs: [pooled.name], attributes: ["axis": .int(1)], shape: [x.c])
  }
}

extension AdaptiveAvgPool2D: GraphExportable {
  /// `Identity` when the input has the output size; `AveragePool` when the bins are equal
  /// windows; otherwise the engine's two products with the bin matrices (`MatMul`, `Transpose`).
  public func lower(_ input: GraphTensor, name: String, into graph: inout GraphBuilder) throws -> GraphTensor {
    let x = try imageShape(input, name, "AdaptiveAvgPool2D")
    let out = [x.c, outputHeight, outputWidth]
    if x.h == outputHeight && x.w == outputWidth {
      return graph.node("Identity", name: name, inputs: [input.name], shape: out)
    }
    if x.h % outputHeight == 0 && x.w % outputWidth == 0 {
      let g = ConvGeometry(kernel: (x.h / outputHeight, x.w / outputWidth), stride: (x.h / outputHeight, x.w / outputWidth))
      return graph.node("AveragePool", name: name, inputs: [input.name], attributes: windowAttributes(g), shape: out)
    }
    // [ow, w] and [oh, h] bin weights, transposed for x @ Rᵀ.
    let rw = AdaptiveAvgPool2D.binMatrix(from: x.w, to: outputWidth).transposed()
    let rh = AdaptiveAvgPool2D.binMatrix(from: x.h, to: outputHeight).transposed()
    let cw = graph.constant(rw.scalars, shape: [x.w, outputWidth], name: name + "/width_bins")
    let ch = graph.constant(rh.scalars, shape: [x.h, outputHeight], name: name + "/height_bins")
    let rows = graph.node("MatMul", name: name + "/MatMul_width", inputs: [input.name, cw], shape: [x.c, x.h, outputWidth])
    let swapped = graph.node(
      "Transpose", name: name + "/Transpose_in", inputs: [rows.name], attributes: ["perm": .ints([0, 1, 3, 2])],
      shape: [x.c, outputWidth, x.h])
    let cols = graph.node("MatMul", name: name + "/MatMul_height", inputs: [swapped.name, ch], shape: [x.c, outputWidth, outputHeight])
    return graph.node("Transpose", name: name, inputs: [cols.name], attributes: ["perm": .ints([0, 1, 3, 2])], shape: out)
  }
}
