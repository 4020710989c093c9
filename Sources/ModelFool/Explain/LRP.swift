/// Implementation note: LRP runs in two passes. The forward pass is the model's own, with an
/// ``ActivationTap`` recording the input and output of *every* named layer (the very tensors of
/// the graph, so nothing is detached). The backward pass walks the layer tree in reverse call order
/// and applies one rule per layer type to the recorded input, producing the relevance at that
/// layer's input from the relevance at its output; each layer sequence is first rewritten by the
/// composite's canonizers (see LRPCanonization.swift), so BatchNorm folding is not the pass's
/// concern. Which rule a weighted layer gets is data (``LRPComposite``); the rule formulas live
/// with ``LRPRule``. Every rule is ordinary differentiable tensor
/// algebra (matmul, grouped convolution and its transpose, gather/scatter, relu, division), so the
/// relevance map is a differentiable function of the weights (the ``Parameter`` leaves) and of the
/// input, and a loss on it can be trained against (Heo et al. 2019).

/// Layer-wise relevance propagation (Bach et al. 2015) through a ``Model``'s layer structure.
///
/// Fixed rules (docs/METHODS.md §2.5): activations (ReLU, ReLU6, softplus, ...), ``Dropout``,
/// ``Normalize`` and ``BatchNorm`` (unless folded, see ``LRPCanonizer/foldBatchNorm``) pass
/// relevance unchanged; ``Flatten`` reshapes it; ``MaxPool2D`` gives each window's relevance to its
/// winner (the same gather indices as the forward pass: ties go to the first maximum);
/// ``GlobalAvgPool2D``: `R_in = x * R / (H * W * out + 1e-8)`; ``AvgPool2D`` and
/// ``AdaptiveAvgPool2D``: the z-rule `R_in = x * J^T (R / stab(out))`; ``Residual``
/// `out = post(f(x) + s(x))`: relevance split by positive parts, `f+ / (f+ + s+ + 1e-12)` to the
/// body and `s+ / (...)` to the shortcut; ``DenseLayer`` `concat(x, f(x))`: split by channels.
/// ``Dense`` and ``Conv2D`` (grouped and depthwise included, with or without a folded BatchNorm)
/// get the composite's ``LRPRule`` for their ``LRPLayerKind``.
public enum LRP {
  /// The relevance at the input of the model (`stopAt == nil`), or at the input of layer `stopAt`
  /// ("LRP_T"), of the logits `logit[n, classes[n]]` (start relevance: the one-hot masked logits).
  ///
  /// - Parameters:
  ///   - model: the network (BatchNorm in evaluation mode for meaningful relevance).
  ///   - x: input batch `[N] + model.inputShape`; a graph tensor (e.g. a variable) keeps the result
  ///     differentiable with respect to it.
  ///   - classes: the class explained per example, or `nil` for the predicted class.
  ///   - composite: the rules.
  ///   - stopAt: a layer name, or `nil`.
  /// - Returns: relevance shaped like `x` (or like the input of `stopAt`), the logits and the classes.
  /// - Throws: ``ExplanationError`` for an unknown layer, a layer type without a rule (or a
  ///   weighted layer whose kinds the composite names no rule for), or bad classes.
  public static func relevance(
    model: Model, input x: Tensor, classes: [Int]?, composite: LRPComposite, stopAt: String? = nil
  ) throws -> (relevance: Tensor, logits: Tensor, classes: [Int]) {
    let all = model.namedLayers()
    if let stopAt, !all.contains(where: { $0.name == stopAt }) {
      throw ExplanationError("lrp: \(unknownLayerError(stopAt, validNames: all.map(\.name)).message) in model '\(model.architecture)'")
    }
    let names = Set(all.map(\.name))
    let tap = ActivationTap(inputsOf: names, outputsOf: names)
    let logits = try model.forward(x, tap: tap)
    let chosen = try resolveClasses(classes, logits: logits, method: "lrp")
    let start = logits * Tensor.oneHot(chosen, classes: logits.shape[1])
    let pass = LRPPass(model: model, layers: all, tap: tap, composite: composite, stopAt: stopAt)
    let r = try pass.walk(model, "", start)
    if let stopAt {
      guard let hit = pass.result else {
        throw ExplanationError("lrp: layer '\(stopAt)' was not reached by the relevance pass")
      }
      return (hit, logits, chosen)
    }
    return (r, logits, chosen)
  }
}

/// The explained class per example: `classes` checked against the logits, or the arg-max.
func resolveClasses(_ classes: [Int]?, logits: Tensor, method: String) throws -> [Int] {
  let n = logits.shape[0], k = logits.shape[1]
  guard let classes else { return logits.argmaxLastAxis() }
  guard classes.count == n else {
    throw ExplanationError("\(method): \(classes.count) labels for a batch of \(n) examples")
  }
  if let bad = classes.first(where: { $0 < 0 || $0 >= k }) {
    throw ExplanationError("\(method): class \(bad) out of range 0..<\(k)")
  }
  return classes
}

/// State of one backward relevance pass.
final class LRPPass {
  let tap: ActivationTap
  let composite: LRPComposite
  let stopAt: String?
  /// Name of the first weighted (dense or conv) layer in call order.
  let firstWeighted: String?
  /// ``Normalize`` layers called before the first weighted layer (to map zB bounds).
  let leadingNormalizers: [Normalize]
  var result: Tensor?
  var done = false

  init(model: Model, layers: [(name: String, layer: any Layer)], tap: ActivationTap, composite: LRPComposite, stopAt: String?) {
    self.tap = tap
    self.composite = composite
    self.stopAt = stopAt
    var first: String?
    var norms: [Normalize] = []
    if let g = model.network as? GraphNetwork {
      first = g.steps.first {
        switch $0.op {
        case .conv, .gemm, .matMul: true
        default: false
        }
      }?.node.outputs.first
    }
    for l in layers where first == nil {
      if l.layer is Dense || l.layer is Conv2D {
        first = l.name
        break
      }
      if let n = l.layer as? Normalize { norms.append(n) }
    }
    firstWeighted = first
    leadingNormalizers = norms
  }

  func input(_ name: String) throws -> Tensor {
    guard let t = tap.inputs[name] else { throw ExplanationError("lrp: layer '\(name)' was not called in the forward pass") }
    return t
  }

  func output(_ name: String) throws -> Tensor {
    guard let t = tap.outputs[name] else { throw ExplanationError("lrp: layer '\(name)' was not called in the forward pass") }
    return t
  }

  /// Relevance at the input of `layer` (named `name`) from the relevance `r` at its output; records
  /// it when `name` is the stop layer.
  func walk(_ layer: any Layer, _ name: String, _ r: Tensor) throws -> Tensor {
    let rIn = try rule(layer, name, r)
    mark(name, rIn)
    return rIn
  }

  func mark(_ name: String, _ r: Tensor) {
    if !done && name == stopAt {
      done = true
      result = r
    }
  }

  func rule(_ layer: any Layer, _ name: String, _ r: Tensor) throws -> Tensor {
    switch layer {
    case let m as Model:
      return try rule(m.network, name, r)
    case let s as Sequential:
      return try chain(s.entries, parent: name, r)
    case let res as Residual:
      return try residual(res, name, r)
    case let d as DenseLayer:
      let c = d.inputChannels
      let direct = r.slice(axis: 1, 0..<c)
      let branch = try chain(d.branch, parent: name, r.slice(axis: 1, c..<(c + d.growthRate)))
      return done ? branch : direct + branch
    case let d as Dense:
      return try weighted(LRPLinearMap(d, input: try input(name)), name, r)
    case let c as Conv2D:
      return try weighted(LRPLinearMap(c, input: try input(name)), name, r)
    case let f as BatchNormFolded:
      return try weighted(f.linearMap(input: try input(name)), name, r)
    case is BatchNorm, is ActivationLayer, is Dropout, is Normalize:
      return r
    case is Flatten:
      return r.reshaped(try input(name).shape)
    case let p as MaxPool2D:
      let x = try input(name)
      let (idx, _) = x.maxPoolIndices(geometry: p.geometry(inputHeight: x.shape[2], inputWidth: x.shape[3]))
      return r.scatterAdded(flatIndices: idx, shape: x.shape)
    case is GlobalAvgPool2D:
      let x = try input(name)
      let out = try output(name)
      let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
      return x * (r / (out * Float(h * w) + 1e-8)).reshaped([n, c, 1, 1])
    case is AvgPool2D, is AdaptiveAvgPool2D:
      return try linearZRule(layer, x: try input(name), out: try output(name), r)
    case let g as GraphNetwork:
      return try graph(g, r)
    default:
      throw ExplanationError("lrp: no rule for layer '\(name)' of type \(type(of: layer))")
    }
  }

  /// The canonised `entries` (see ``LRPComposite/canonizers``) in reverse call order.
  func chain(_ entries: [(name: String, layer: any Layer)], parent: String, _ r: Tensor) throws -> Tensor {
    var r = r
    for e in composite.canonized(entries, parent: parent, stopAt: stopAt).reversed() {
      r = try walk(e.layer, joinLayerName(parent, e.name), r)
      if done { return r }
    }
    return r
  }

  func residual(_ res: Residual, _ name: String, _ r: Tensor) throws -> Tensor {
    var r = r
    if let post = res.post {
      r = try walk(post.layer, joinLayerName(name, post.name), r)
      if done { return r }
    }
    let f = try res.body.last.map { try output(joinLayerName(name, $0.name)) } ?? input(name)
    let s = try res.shortcut.map { try output(joinLayerName(name, $0.name)) } ?? input(name)
    let fp = f.relu(), sp = s.relu()
    let den = fp + sp + 1e-12
    let rBody = try chain(res.body, parent: name, r * fp / den)
    if done { return rBody }
    let rShort = r * sp / den
    let rSkip = try res.shortcut.map { try walk($0.layer, joinLayerName(name, $0.name), rShort) } ?? rShort
    if done { return rSkip }
    return rBody + rSkip
  }

  /// z-rule for a linear layer without bias (average pooling): `x * J^T (R / stab(out))`, the
  /// transpose obtained as the vector-Jacobian product at a probe (valid because the map is linear).
  func linearZRule(_ layer: any Layer, x: Tensor, out: Tensor, _ r: Tensor) throws -> Tensor {
    let s = r / stabilized(out, 1e-8)
    let keep = GradientRecording.isEnabled
    let c = GradientRecording.$isEnabled.withValue(true) { () -> Tensor in
      let probe = Tensor.zeros(x.shape).variable()
      return gradients(of: layer(probe), withRespectTo: [probe], seed: s, createGraph: keep)[0]
    }
    return x * c
  }

  /// The composite's rule for the weighted layer `m` (named `name`) applied to the relevance `r`
  /// at its output.
  func weighted(_ m: LRPLinearMap, _ name: String, _ r: Tensor, graph: GraphNetwork? = nil) throws -> Tensor {
    let kinds = name == firstWeighted ? [.first, m.kind] : [m.kind]
    guard let rule = composite.rule(for: kinds) else {
      throw ExplanationError("lrp: composite '\(composite.name)' has no rule for layer '\(name)' (\(m.kind))")
    }
    return rule.relevance(m, r, stabilizer: composite.stabilizer, bounds: try zBBounds(rule, x: m.x, graph: graph))
  }

  /// zB's bound tensors shaped like `x`, in the units of the layer's input (model-input bounds
  /// pushed through the leading ``Normalize`` layers, or through the nodes of `graph` before its
  /// first weighted node).
  func zBBounds(_ rule: LRPRule, x: Tensor, graph: GraphNetwork? = nil) throws -> (Tensor, Tensor)? {
    guard case .zB(let low, let high) = rule else { return nil }
    if let graph { return (try graphBound(graph, low, like: x), try graphBound(graph, high, like: x)) }
    func bound(_ v: Float) throws -> Tensor {
      guard let first = leadingNormalizers.first else { return Tensor(repeating: v, shape: x.shape) }
      guard x.rank == 4, x.shape[1] == first.mean.count else {
        throw ExplanationError("lrp: zB bounds cannot be mapped through Normalize onto input \(x.shape)")
      }
      var b = Tensor(repeating: v, shape: [1, first.mean.count, 1, 1])
      for n in leadingNormalizers { b = n(b) }
      return b.expand(to: x.shape)
    }
    return (try bound(low), try bound(high))
  }
}
