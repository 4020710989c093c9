/// Implementation note: explanations need intermediate activations *inside* the recorded graph
/// ("the input of layer X", for Grad-CAM and the "_T" variants of Heo et al. 2019). Containers
/// call every child through ``ActivationTap/call(_:named:_:)``. Without an active tap that is a
/// plain call; with one (a task-local, set by ``Layer/forward(_:tap:)``), the tap tracks the
/// hierarchical name of the layer being called, may replace its input, and records its input and
/// output tensors. The recorded tensors are the very tensors of the graph, so
/// `gradients(of: logit, withRespectTo: [captured])` differentiates at that layer, and a loss on an
/// explanation built from them can be differentiated again with respect to the weights.

/// Records (and optionally replaces) the inputs and outputs of named layers during one forward
/// pass.
///
/// Names are hierarchical (`features.3`, `layer4.1.conv2`); `""` is the root. If a layer runs
/// several times in one pass (a shared module), the last call's tensors are kept. A constant
/// input that is captured while recording is on is turned into a graph leaf first, so gradients
/// with respect to it are defined (this matters for the root input and for a replaced input).
/// Taps do not nest: an inner ``Layer/forward(_:tap:)`` hides the outer tap during its pass.
public final class ActivationTap: @unchecked Sendable {
  /// The tap of the forward pass running in this task, if any.
  @TaskLocal public static var current: ActivationTap?

  /// Layers whose input is recorded.
  public let inputNames: Set<String>
  /// Layers whose output is recorded.
  public let outputNames: Set<String>
  /// Per layer, a function applied to its input before the layer runs (e.g. substituting a
  /// variable, or a perturbed activation).
  public let replacements: [String: (Tensor) -> Tensor]
  /// Recorded inputs by layer name (filled during the pass).
  public private(set) var inputs: [String: Tensor] = [:]
  /// Recorded outputs by layer name (filled during the pass).
  public private(set) var outputs: [String: Tensor] = [:]
  private var path: [String] = []

  /// A tap recording the inputs of `inputNames`, the outputs of `outputNames`, and replacing the
  /// inputs of the layers in `replacements`.
  public init(
    inputsOf inputNames: Set<String> = [], outputsOf outputNames: Set<String> = [],
    replacingInputs replacements: [String: (Tensor) -> Tensor] = [:]
  ) {
    self.inputNames = inputNames
    self.outputNames = outputNames
    self.replacements = replacements
    allNames = inputNames.union(outputNames).union(replacements.keys)
  }

  /// Whether this tap records or replaces anything of `child`, a sub-layer of the container
  /// running now (its full name is the current path joined with `child`).
  @usableFromInline
  func refers(toChild child: String) -> Bool {
    allNames.contains(joinLayerName(path.last ?? "", child))
  }

  /// Every name this tap refers to.
  public let allNames: Set<String>

  /// Calls `child`, the sub-layer of the current container with local name `name`, on `x`,
  /// letting the active tap (if any) see and replace its input and record its output.
  /// Containers must call their children through this function.
  @inlinable
  public static func call(_ child: any Layer, named name: String, _ x: Tensor) -> Tensor {
    guard let tap = current else { return child(x) }
    return tap.run(child, named: name, x)
  }

  /// Runs `layer` under its full name (the current path joined with `name`).
  @usableFromInline
  func run(_ layer: any Layer, named name: String, _ x: Tensor) -> Tensor {
    let full = joinLayerName(path.last ?? "", name)
    path.append(full)
    defer { path.removeLast() }
    var input = x
    if let replace = replacements[full] { input = replace(input) }
    if inputNames.contains(full) {
      if input.node == nil && GradientRecording.isEnabled { input = input.variable() }
      inputs[full] = input
    }
    let output = layer(input)
    if outputNames.contains(full) { outputs[full] = output }
    return output
  }
}

extension Layer {
  /// Runs the layer on `x` with `tap` active, after checking that every name the tap refers to
  /// is a layer of this tree.
  ///
  /// - Throws: ``LayerError`` naming an unknown layer and the closest valid names.
  public func forward(_ x: Tensor, tap: ActivationTap) throws -> Tensor {
    let valid = Set(namedLayers().map(\.name))
    for name in tap.allNames.sorted() where !valid.contains(name) {
      throw unknownLayerError(name, validNames: namedLayers().map(\.name))
    }
    return ActivationTap.$current.withValue(tap) { tap.run(self, named: "", x) }
  }

  /// The output and the inputs of the named layers, as tensors of the recorded graph.
  ///
  /// - Throws: ``LayerError`` if a name is not a layer of this tree, or if a named layer was not
  ///   called during the pass.
  public func forward(_ x: Tensor, capturingInputsOf names: Set<String>) throws
    -> (output: Tensor, captured: [String: Tensor])
  {
    let tap = ActivationTap(inputsOf: names)
    let y = try forward(x, tap: tap)
    try checkAllCalled(names, tap.inputs)
    return (y, tap.inputs)
  }

  /// The output and the outputs of the named layers, as tensors of the recorded graph.
  ///
  /// - Throws: ``LayerError`` as ``forward(_:capturingInputsOf:)``.
  public func forward(_ x: Tensor, capturingOutputsOf names: Set<String>) throws
    -> (output: Tensor, captured: [String: Tensor])
  {
    let tap = ActivationTap(outputsOf: names)
    let y = try forward(x, tap: tap)
    try checkAllCalled(names, tap.outputs)
    return (y, tap.outputs)
  }

  /// The output when the input of layer `name` is replaced by `transform(input)`.
  ///
  /// - Throws: ``LayerError`` if `name` is not a layer of this tree.
  public func forward(
    _ x: Tensor, replacingInputOf name: String, with transform: @escaping (Tensor) -> Tensor
  ) throws -> Tensor {
    try forward(x, tap: ActivationTap(replacingInputs: [name: transform]))
  }

  private func checkAllCalled(_ names: Set<String>, _ got: [String: Tensor]) throws {
    if let missing = names.sorted().first(where: { got[$0] == nil }) {
      throw LayerError("layer '\(missing)' exists but was not called during the forward pass")
    }
  }
}
