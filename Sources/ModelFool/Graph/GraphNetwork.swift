/// Implementation note: a ``GraphNetwork`` runs a checked ``GraphDefinition`` node by node in a
/// topological order fixed when it is built. Its parameters are the graph's float initializers,
/// named as in the file, so fine-tuning and checkpoints treat them like any layer's weights. Every
/// float tensor the graph computes passes through an identity child layer named after the tensor
/// (``GraphTensorMarker``), called through ``ActivationTap``: "the input of layer T" is then tensor
/// T itself, so Grad-CAM, the "_T" explanations and `--layer` take ONNX tensor names. Each `Relu`
/// node runs through an ``ActivationLayer`` child named `activation:T` (T its output), so
/// ``Layer/setActivation(_:includingReLU6:)`` switches an imported network to softplus(beta) like
/// the zoo's.
///
/// Building refuses, with one line naming the node or tensor: more than ``maximumNodes`` nodes,
/// tensors produced twice, nodes reading tensors nobody produces, cycles, unsupported operators or
/// attributes, constants whose values do not fill their shape, and any shape that does not fit
/// when the graph is evaluated on batches of 1 and 2 (so a graph exported with a fixed batch size
/// is caught when it is built, not when it is first called).

/// An identity layer standing for one tensor of a graph, so the tensor can be captured or
/// replaced by name.
public final class GraphTensorMarker: Layer {
  /// A marker.
  public init() {}
  /// Returns `x` unchanged.
  public func callAsFunction(_ x: Tensor) -> Tensor { x }
  public func deepCopy() -> GraphTensorMarker { GraphTensorMarker() }
}

/// A network given as a graph of operators (an imported ONNX model), run on engine ops.
public final class GraphNetwork: Layer, @unchecked Sendable {
  /// The most nodes a graph may have (ResNet-50 has about 180, EfficientNet-B7 about 1,200).
  public static let maximumNodes = 20_000
  /// The most parameter values a graph may declare in all (2^30, 4 GiB of Float32).
  public static let maximumParameterElements = 1 << 30

  /// The graph.
  public let definition: GraphDefinition
  let parameterList: [(name: String, parameter: Parameter)]
  private let markers: [(name: String, layer: any Layer)]
  private let markerByName: [String: any Layer]
  let steps: [Step]
  private let activations: [(name: String, layer: any Layer)]

  struct Step {
    let node: GraphNodeSpec
    let op: GraphOperator
    let constant: Tensor?
    /// The activation layer of a `Relu` node.
    let activation: ActivationLayer?
    /// Tensors whose last reader this step is (dropped after it).
    var release: [String]
  }

  /// The output tensor of the last convolution in execution order (the default Grad-CAM layer),
  /// nil when the graph has none.
  public let lastConvolutionOutput: String?
  /// The number of logits (the output's second dimension).
  public let outputCount: Int

  /// Builds and checks the network; `values` gives parameter values by name (absent ones start
  /// at zero, for a checkpoint to fill).
  ///
  /// - Throws: ``GraphError`` naming the node or tensor at fault.
  public init(definition: GraphDefinition, values: [String: Tensor] = [:]) throws {
    self.definition = definition
    let nodes = definition.nodes
    guard nodes.count <= Self.maximumNodes else {
      throw GraphError("the graph has \(nodes.count) nodes, more than the \(Self.maximumNodes) allowed")
    }
    guard definition.inputShape.count >= 1, definition.inputShape.allSatisfy({ $0 >= 1 }) else {
      throw GraphError("input '\(definition.inputName)': shape \(definition.inputShape) is not a list of positive sizes")
    }
    _ = try checkedElementCount(definition.inputShape, "input '\(definition.inputName)'")

    // Tensors available before any node runs.
    var defined: Set<String> = [definition.inputName]
    var parameters: [(name: String, parameter: Parameter)] = []
    var totalElements = 0
    for spec in definition.parameters {
      let count = try checkedElementCount(spec.shape, "initializer '\(spec.name)'")
      totalElements += count
      guard totalElements <= Self.maximumParameterElements else {
        throw GraphError("initializer '\(spec.name)': the parameters hold more than 2^30 values in all")
      }
      guard defined.insert(spec.name).inserted else { throw GraphError("tensor '\(spec.name)' is defined twice") }
      let value = values[spec.name] ?? Tensor.zeros(spec.shape)
      guard value.shape == spec.shape else {
        throw GraphError("initializer '\(spec.name)': values of shape \(value.shape) for shape \(spec.shape)")
      }
      parameters.append((spec.name, Parameter(value, isTrainable: spec.isTrainable)))
    }
    for (name, c) in definition.constants.sorted(by: { $0.key < $1.key }) {
      try Self.checkConstant(c, "constant '\(name)'")
      guard defined.insert(name).inserted else { throw GraphError("tensor '\(name)' is defined twice") }
    }

    // Producers, then a topological order (Kahn), refusing undefined inputs and cycles.
    var producer: [String: Int] = [:]
    for (i, node) in nodes.enumerated() {
      for out in node.outputs where !out.isEmpty {
        guard !defined.contains(out), producer.updateValue(i, forKey: out) == nil else {
          throw GraphError("\(node.label): tensor '\(out)' is produced twice")
        }
      }
    }
    var waiting = [Int](repeating: 0, count: nodes.count)
    var readers: [[Int]] = Array(repeating: [], count: nodes.count)
    for (i, node) in nodes.enumerated() {
      for input in Set(node.inputs) where !input.isEmpty && !defined.contains(input) {
        guard let p = producer[input] else { throw GraphError("\(node.label) reads tensor '\(input)', which no node produces") }
        waiting[i] += 1
        readers[p].append(i)
      }
    }
    var order: [Int] = []
    order.reserveCapacity(nodes.count)
    var ready = (0..<nodes.count).filter { waiting[$0] == 0 }.reversed().map { $0 }
    while let i = ready.popLast() {
      order.append(i)
      for r in readers[i].sorted().reversed() {
        waiting[r] -= 1
        if waiting[r] == 0 { ready.append(r) }
      }
    }
    guard order.count == nodes.count else {
      let stuck = nodes.indices.first { waiting[$0] > 0 }!
      throw GraphError("\(nodes[stuck].label) is on a cycle (the graph is not acyclic)")
    }
    guard definition.outputName == definition.inputName || producer[definition.outputName] != nil else {
      throw GraphError("output '\(definition.outputName)' is not produced by any node")
    }

    var steps: [Step] = []
    var lastRead: [String: Int] = [:]
    for i in order {
      let node = nodes[i]
      let op = try GraphOperator(node, opset: definition.opset)
      var constant: Tensor?
      if case .constant(let c) = op {
        try Self.checkConstant(c, node.label)
        if case .floats(let s, let v) = c { constant = Tensor(shape: s, scalars: v) }
      }
      for input in node.inputs where !input.isEmpty { lastRead[input] = steps.count }
      var activation: ActivationLayer?
      if case .relu = op, let out = node.outputs.first, !out.isEmpty { activation = ActivationLayer(.relu) }
      steps.append(Step(node: node, op: op, constant: constant, activation: activation, release: []))
    }
    for (name, step) in lastRead where name != definition.outputName { steps[step].release.append(name) }
    self.steps = steps
    activations = steps.compactMap { step in step.activation.map { ("activation:" + step.node.outputs[0], $0) } }
    parameterList = parameters
    lastConvolutionOutput = steps.last { $0.node.op == "Conv" }?.node.outputs.first

    // Check every shape on batches of 1 and 2; the float tensors found get markers.
    var floatTensors: [String] = []
    var outputs = 0
    for batch in [1, 2] {
      let (output, seen) = try Self.check(steps, definition, parameters, batch: batch)
      guard output.count == 2, output[0] == batch else {
        throw GraphError(
          "output '\(definition.outputName)' has shape \(output) for a batch of \(batch); a classifier's logits [\(batch), classes] are needed (export the model with a dynamic batch axis)")
      }
      if batch == 1 { (floatTensors, outputs) = (seen, output[1]) }
    }
    outputCount = outputs
    markers = floatTensors.map { ($0, GraphTensorMarker()) }
    markerByName = Dictionary(uniqueKeysWithValues: markers.map { ($0.name, $0.layer) })
  }

  /// Evaluates the graph on shapes only; returns the output's shape and every float tensor in
  /// execution order (the input first).
  private static func check(
    _ steps: [Step], _ definition: GraphDefinition, _ parameters: [(name: String, parameter: Parameter)], batch: Int
  ) throws -> (output: [Int], floatTensors: [String]) {
    let (values, floats) = try shapeValues(steps, definition, parameters, batch: batch)
    guard let shape = values[definition.outputName]?.floatShape else {
      throw GraphError("output '\(definition.outputName)' is not a float tensor")
    }
    return (shape, floats)
  }

  /// Every tensor of the graph on a batch of `batch`, evaluated on shapes only: integer tensors
  /// (shapes, axes, indices) with their values, float tensors as their shapes; and the float
  /// tensors in execution order (the input first).
  private static func shapeValues(
    _ steps: [Step], _ definition: GraphDefinition, _ parameters: [(name: String, parameter: Parameter)], batch: Int
  ) throws -> (values: [String: GraphValue], floatTensors: [String]) {
    var values: [String: GraphValue] = [definition.inputName: .shape([batch] + definition.inputShape)]
    for (name, p) in parameters { values[name] = .shape(p.shape) }
    for (name, c) in definition.constants { values[name] = constantValue(c, running: false) }
    var floats = [definition.inputName]
    for step in steps {
      let inputs = NodeInputs(values: step.node.inputs.map { $0.isEmpty ? nil : values[$0] }, label: step.node.label)
      let out: GraphValue
      do { out = try step.op.evaluate(inputs, running: false, constant: step.constant) } catch let error as GraphError where batch > 1 {
        throw GraphError("\(error.message) (for a batch of \(batch): export the model with a dynamic batch axis)")
      }
      if let name = step.node.outputs.first, !name.isEmpty {
        values[name] = out
        if out.floatShape != nil { floats.append(name) }
      }
    }
    return (values, floats)
  }

  /// Every tensor on a batch of `batch` evaluated on shapes only (see ``shapeValues(_:_:_:batch:)``):
  /// the integer tensors a pass over the graph needs besides the float ones it recorded.
  func shapeValues(batch: Int) throws -> [String: GraphValue] {
    try Self.shapeValues(steps, definition, parameterList, batch: batch).values
  }

  private static func checkConstant(_ c: GraphConstant, _ label: String) throws {
    let n = try checkedElementCount(c.shape, label)
    switch c {
    case .floats(_, let v):
      guard v.count == n else { throw GraphError("\(label): \(v.count) values for shape \(c.shape)") }
      guard v.allSatisfy(\.isFinite) else { throw GraphError("\(label): holds NaN or infinite values") }
    case .ints(_, let v):
      guard v.count == n else { throw GraphError("\(label): \(v.count) values for shape \(c.shape)") }
    }
  }

  static func constantValue(_ c: GraphConstant, running: Bool) -> GraphValue {
    switch c {
    case .ints(let s, let v): .ints(IntTensor(shape: s, values: v))
    case .floats(let s, let v): running ? .tensor(Tensor(shape: s, scalars: v)) : .shape(s)
    }
  }

  /// The logits for a batch `[N] + inputShape`.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(
      Array(x.shape.dropFirst()) == definition.inputShape,
      "graph network: input of shape \(x.shape), the graph takes [N] + \(definition.inputShape)")
    var values: [String: GraphValue] = [:]
    values.reserveCapacity(steps.count + parameterList.count)
    func store(_ name: String, _ v: GraphValue) {
      if case .tensor(let t) = v, let marker = markerByName[name] {
        values[name] = .tensor(ActivationTap.call(marker, named: name, t))
      } else {
        values[name] = v
      }
    }
    store(definition.inputName, .tensor(x))
    for (name, p) in parameterList { values[name] = .tensor(p.value) }
    for (name, c) in definition.constants { values[name] = Self.constantValue(c, running: true) }
    for step in steps {
      let inputs = NodeInputs(values: step.node.inputs.map { $0.isEmpty ? nil : values[$0] }, label: step.node.label)
      do {
        let out = try step.activation.map { relu in
          try GraphOperator.identity.evaluate(inputs, running: true, constant: nil).map { relu($0) }
        } ?? step.op.evaluate(inputs, running: true, constant: step.constant)
        if let name = step.node.outputs.first, !name.isEmpty { store(name, out) }
      } catch {
        fatalError("graph network: \(error) (the graph was checked for other input shapes)")
      }
      for name in step.release { values[name] = nil }
    }
    guard case .tensor(let y)? = values[definition.outputName] else { fatalError("graph network: no output") }
    return y
  }

  /// One identity marker per float tensor, named after it, in execution order; then the
  /// activation layers of the `Relu` nodes.
  public var children: [(name: String, layer: any Layer)] { markers + activations }
  /// The float initializers, named as in the file.
  public var localParameters: [(name: String, parameter: Parameter)] { parameterList }

  public func deepCopy() -> GraphNetwork {
    let values = Dictionary(uniqueKeysWithValues: parameterList.map { ($0.name, $0.parameter.copy().value) })
    do {
      let copy = try GraphNetwork(definition: definition, values: values)
      for (a, b) in zip(activations, copy.activations) { (b.layer as! ActivationLayer).activation = (a.layer as! ActivationLayer).activation }
      return copy
    } catch {
      fatalError("graph network: copy of a checked graph failed: \(error)")
    }
  }
}
