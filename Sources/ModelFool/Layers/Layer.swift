/// Implementation note: layers are classes. Reference semantics make in-place optimiser updates,
/// name lookups and mode switches (train/eval, ReLU/softplus) simple: `layer(named:)` returns the
/// object the network really calls. Every layer exposes its direct children and its own parameters
/// under *local* names; the extensions below derive PyTorch-style dotted names
/// (`features.3.weight`, `layer1.0.downsample.1.running_mean`) by walking the tree, so reference
/// state dicts map one-to-one onto ``Layer/namedParameters()``.

/// A differentiable function of one NCHW (or `[N, features]`) tensor with named parameters and
/// named children.
///
/// Containers must call their children through ``ActivationTap/call(_:named:_:)`` so that the
/// hierarchical names are visible to activation capture (Grad-CAM or "_T" explanations at a named
/// layer).
public protocol Layer: AnyObject {
  /// The layer's output for a batch `x`.
  func callAsFunction(_ x: Tensor) -> Tensor
  /// Direct sub-layers with their local names ("0", "conv1", "downsample"), in call order.
  var children: [(name: String, layer: any Layer)] { get }
  /// The layer's own parameters and buffers with local names ("weight", "bias", "running_mean").
  var localParameters: [(name: String, parameter: Parameter)] { get }
  /// An independent clone: same structure and mode, copied parameter values. A layer instance
  /// that appears twice in a tree is cloned twice (sharing is not preserved).
  func deepCopy() -> Self
}

extension Layer {
  public var children: [(name: String, layer: any Layer)] { [] }
  public var localParameters: [(name: String, parameter: Parameter)] { [] }
}

/// A layer whose behaviour differs between training and evaluation (BatchNorm, Dropout).
public protocol ModeDependentLayer: Layer {
  /// Training mode (batch statistics, random dropout) when true; evaluation mode otherwise.
  var isTraining: Bool { get set }
}

/// Joins a parent's hierarchical name and a child's local name (`""` is the root).
@inlinable public func joinLayerName(_ parent: String, _ child: String) -> String {
  parent.isEmpty ? child : (child.isEmpty ? parent : parent + "." + child)
}

extension Layer {
  /// Every layer of the tree with its hierarchical name, depth first in call order; the root
  /// itself comes first under the name `""`.
  public func namedLayers() -> [(name: String, layer: any Layer)] {
    var out: [(name: String, layer: any Layer)] = []
    func visit(_ l: any Layer, _ name: String) {
      out.append((name, l))
      for c in l.children { visit(c.layer, joinLayerName(name, c.name)) }
    }
    visit(self, "")
    return out
  }

  /// Every parameter and buffer with its dotted hierarchical name (`features.3.weight`), in the
  /// order of ``namedLayers()``; the names equal PyTorch `state_dict()` keys for the zoo models.
  public func namedParameters() -> [(name: String, parameter: Parameter)] {
    namedLayers().flatMap { l in
      l.layer.localParameters.map { (joinLayerName(l.name, $0.name), $0.parameter) }
    }
  }

  /// The trainable parameters (buffers excluded), in the order of ``namedParameters()``.
  public func trainableParameters() -> [Parameter] {
    namedParameters().map(\.parameter).filter(\.isTrainable)
  }

  /// Total number of trainable scalars (the figure papers and `torchinfo` report).
  public var parameterCount: Int { trainableParameters().reduce(0) { $0 + $1.count } }

  /// The layer at a hierarchical name (`""` is `self`).
  ///
  /// - Throws: ``LayerError`` listing the closest valid names when there is none.
  public func layer(named name: String) throws -> any Layer {
    let all = namedLayers()
    if let hit = all.first(where: { $0.name == name }) { return hit.layer }
    throw unknownLayerError(name, validNames: all.map(\.name))
  }

  /// The parameter at a dotted name (`features.0.weight`).
  ///
  /// - Throws: ``LayerError`` listing the closest valid names when there is none.
  public func parameter(named name: String) throws -> Parameter {
    let all = namedParameters()
    if let hit = all.first(where: { $0.name == name }) { return hit.parameter }
    throw LayerError(
      "no parameter named '\(name)' (closest: \(closestNames(to: name, in: all.map(\.name)).joined(separator: ", ")))")
  }

  /// Switches every ``ModeDependentLayer`` of the tree to training (`true`) or evaluation mode.
  public func setTraining(_ training: Bool) {
    for l in namedLayers() {
      if let m = l.layer as? any ModeDependentLayer { m.isTraining = training }
    }
  }

  /// Switches the activation of every ReLU-family ``ActivationLayer`` without touching weights.
  ///
  /// Rule: a layer is switched when the activation it was *built* with (``ActivationLayer/base``)
  /// is `.relu` or `.softplus`; ReLU6 layers are switched only if `includingReLU6` is true (a
  /// softplus(beta) request gives them the smooth ReLU6 of that beta);
  /// identity, sigmoid and tanh layers never are. Because the rule looks at the built activation,
  /// `setActivation(.softplus(beta: 10))` followed by `setActivation(.relu)` restores a ReLU
  /// network exactly; ``restoreActivations()`` restores every layer (ReLU6 included).
  public func setActivation(_ activation: Activation, includingReLU6: Bool = false) {
    for l in namedLayers() {
      guard let a = l.layer as? ActivationLayer else { continue }
      switch a.base {
      case .relu, .softplus: a.activation = activation
      case .relu6 where includingReLU6:
        // Smoothing a ReLU6 keeps its cap: softplus(beta) becomes the smooth ReLU6 of that beta.
        if case .softplus(let beta) = activation { a.activation = .smoothReLU6(beta: beta) } else { a.activation = activation }
      default: break
      }
    }
  }

  /// Puts every ``ActivationLayer`` back to the activation it was built with.
  public func restoreActivations() {
    for l in namedLayers() {
      if let a = l.layer as? ActivationLayer { a.activation = a.base }
    }
  }
}

/// "no layer named X (closest: ...)" with up to six nearby valid names.
func unknownLayerError(_ name: String, validNames: [String]) -> LayerError {
  let shown = closestNames(to: name, in: validNames).map { $0.isEmpty ? "\"\" (root)" : $0 }
  return LayerError("no layer named '\(name)' (closest: \(shown.joined(separator: ", ")))")
}

/// Up to `limit` names of `candidates` closest to `name` by edit distance (ties: original order).
func closestNames(to name: String, in candidates: [String], limit: Int = 6) -> [String] {
  let target = Array(name.utf8)
  func distance(_ s: String) -> Int {
    let a = Array(s.utf8)
    if a.isEmpty || target.isEmpty { return Swift.max(a.count, target.count) }
    var prev = Array(0...target.count)
    var cur = prev
    for i in 1...a.count {
      cur[0] = i
      for j in 1...target.count {
        cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == target[j - 1] ? 0 : 1))
      }
      swap(&prev, &cur)
    }
    return prev[target.count]
  }
  return candidates.enumerated().map { ($0.element, distance($0.element), $0.offset) }
    .sorted { ($0.1, $0.2) < ($1.1, $1.2) }.prefix(limit).map(\.0)
}
