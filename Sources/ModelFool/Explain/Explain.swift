/// Implementation note: every explanation is of the pre-softmax logit of one class per example,
/// `L = sum_n logit[n, c_n]`; because examples do not interact (BatchNorm in evaluation mode), the
/// gradient of `L` with respect to a batch is the batch of per-example gradients, so a whole batch
/// is explained in one backward pass. Inner gradients are taken with `createGraph: true`: the
/// maps stay differentiable with respect to the weights (the ``Parameter`` leaves) and, when the
/// input is itself a graph tensor, to the input (double backpropagation, Heo et al. 2019 and
/// Dombrowski et al. 2019).

/// An explanation of a batch: the raw map, the post-processed heatmap and what was explained.
public struct Explanation: @unchecked Sendable {
  /// The method.
  public var method: ExplanationMethod
  /// The raw map before post-processing: `[N, C, H, W]` (or `[N, D]`) at the input for the input
  /// methods, `[N, K, h, w]` at the target layer for simplegrad_t and lrp_t, `[N, h, w]` (before
  /// dividing by the max) for Grad-CAM.
  public var raw: Tensor
  /// ``Heatmap/postProcess(_:method:)`` of `raw`: `[N, h, w]`, or `[N, D]` for tabular input.
  public var heatmap: Tensor
  /// The logits of the (clean) input, `[N, classes]`.
  public var logits: Tensor
  /// The class explained for each example.
  public var classes: [Int]
  /// The target layer used (Grad-CAM and "_T" methods), else nil.
  public var layer: String?
}

/// Heatmaps `[N, h, w]` (images) or `[N, D]` (tabular) of `method` for the batch `x`, post-processed
/// as docs/METHODS.md §2.10 says unless `options.postProcess` is false (then the raw map of
/// ``Explanation/raw``).
///
/// - Parameters:
///   - model: the model (BatchNorm in evaluation mode).
///   - x: `[N] + model.inputShape`. Pass a graph tensor (e.g. `x.variable()`) to differentiate the
///     heatmap with respect to the input.
///   - labels: the true class per example (used when `options.explainedClass == .label`; may be
///     empty for `.predicted`).
/// - Throws: ``ExplanationError`` for a missing or non-spatial target layer, a layer without an LRP
///   rule, or labels that do not fit.
public func explain(
  _ model: Model, _ x: Tensor, labels: [Int], method: ExplanationMethod,
  options: ExplanationOptions = ExplanationOptions()
) throws -> Tensor {
  let e = try explanation(model, x, labels: labels, method: method, options: options)
  return options.postProcess ? e.heatmap : e.raw
}

/// A recorded forward pass of a batch that several explanations and a training loss can share
/// (``recordForward(_:_:capturingInputsOf:)``): the input as a graph leaf, the logits and the
/// captured inputs of target layers. Sharing it, a fine-tuning step records the network once: the
/// cross-entropy, the explanations' inner gradients and the outer backward all use one graph.
public struct RecordedForward: @unchecked Sendable {
  /// The batch as a graph tensor (a variable unless it already was one).
  public let input: Tensor
  /// The logits, `[N, classes]`, recorded.
  public let logits: Tensor
  /// The input activation of each captured layer, by name.
  public let activations: [String: Tensor]
}

/// Runs `model` on `x` once with recording on, capturing the inputs of `layers`.
/// - Throws: ``ExplanationError`` for an unknown layer.
public func recordForward(_ model: Model, _ x: Tensor, capturingInputsOf layers: [String] = []) throws -> RecordedForward {
  try GradientRecording.$isEnabled.withValue(true) {
    let xv = x.requiresGradient ? x : x.variable()
    if layers.isEmpty { return RecordedForward(input: xv, logits: model(xv), activations: [:]) }
    do {
      let (y, captured) = try model.forward(xv, capturingInputsOf: Set(layers))
      return RecordedForward(input: xv, logits: y, activations: captured)
    } catch let e as LayerError {
      throw ExplanationError("forward: \(e.message) in model '\(model.architecture)'")
    }
  }
}

/// The full ``Explanation`` (raw map, heatmap, logits, classes) of `method` for the batch `x`; see
/// ``explain(_:_:labels:method:options:)``.
///
/// `forward`: a recorded forward pass of this `model` on this `x` (``recordForward(_:_:capturingInputsOf:)``)
/// that the gradient methods (simplegrad, gradxinput, simplegrad_t, Grad-CAM) reuse instead of
/// running their own; the same numbers, one forward pass fewer. Ignored by the other methods,
/// with `options.beta` (the activations differ) and when it lacks the target layer.
public func explanation(
  _ model: Model, _ x: Tensor, labels: [Int], method: ExplanationMethod,
  options: ExplanationOptions = ExplanationOptions(), sharing forward: RecordedForward? = nil
) throws -> Explanation {
  guard x.rank >= 2, Array(x.shape.dropFirst()) == model.inputShape || model.inputShape.isEmpty else {
    throw ExplanationError("\(method): input \(x.shape) does not match model '\(model.architecture)' input [N] + \(model.inputShape)")
  }
  let classes: [Int]? = options.explainedClass == .label ? labels : nil
  var layer: String?
  if method.needsTargetLayer { layer = try resolveTargetLayer(model, method: method, options: options) }
  var e = try withExplanationActivations(model, beta: options.beta) {
    try GradientRecording.$isEnabled.withValue(true) {
      try rawExplanation(
        model, x, classes: classes, method: method, layer: layer, options: options,
        forward: options.beta == nil ? forward : nil)
    }
  }
  if !options.createGraph {
    e.raw = e.raw.detached()
    e.logits = e.logits.detached()
  }
  e.heatmap = Heatmap.postProcess(e.raw, method: method)
  if !options.createGraph { e.heatmap = e.heatmap.detached() }
  return e
}

/// The gradient of `sum_n logit[n, c_n]` with respect to the input (`layer == nil`) or to the
/// input activation of `layer`, as a graph tensor when `createGraph` is true.
///
/// - Parameter classes: class per example, or `nil` for the predicted class.
/// - Returns: the gradient, the tensor it is taken with respect to (the input as a graph tensor, or
///   the captured activation), the logits and the classes.
/// - Throws: ``ExplanationError`` for an unknown layer or bad classes.
/// - Parameter forward: a recorded forward pass of `model` on `x` to reuse (when it captured
///   `layer`); the gradient then stops at `layer` in that graph.
public func logitGradient(
  _ model: Model, at x: Tensor, classes: [Int]?, layer: String? = nil, createGraph: Bool = true,
  sharing forward: RecordedForward? = nil
) throws -> (gradient: Tensor, activation: Tensor, logits: Tensor, classes: [Int]) {
  try GradientRecording.$isEnabled.withValue(true) {
    let xv = forward?.input ?? (x.requiresGradient ? x : x.variable())
    var logits: Tensor
    var wrt = xv
    if let forward, layer == nil || forward.activations[layer!] != nil {
      logits = forward.logits
      if let layer { wrt = forward.activations[layer]! }
    } else if let layer {
      let (y, captured) = try captureInputs(model, xv, layer: layer, method: "gradient")
      logits = y
      wrt = captured
    } else {
      logits = model(xv)
    }
    let chosen = try resolveClasses(classes, logits: logits, method: "gradient")
    let target = logits.gathered(rowIndices: chosen).sum()
    let g = gradients(of: target, withRespectTo: [wrt], createGraph: createGraph)[0]
    return (g, wrt, logits, chosen)
  }
}

/// Forward pass capturing the input of `layer`, with one-line errors.
func captureInputs(_ model: Model, _ x: Tensor, layer: String, method: String) throws -> (Tensor, Tensor) {
  do {
    let (y, captured) = try model.forward(x, capturingInputsOf: [layer])
    return (y, captured[layer]!)
  } catch let e as LayerError {
    throw ExplanationError("\(method): \(e.message) in model '\(model.architecture)'")
  }
}

/// The target layer of a "_T" method or Grad-CAM, checked to exist and to be spatial.
func resolveTargetLayer(_ model: Model, method: ExplanationMethod, options: ExplanationOptions) throws -> String {
  let name = options.layer ?? model.targetLayer
  guard !name.isEmpty else {
    throw ExplanationError("\(method): model '\(model.architecture)' has no default target layer; name one", settings: ["layer"])
  }
  do { _ = try model.layer(named: name) } catch let e as LayerError {
    throw ExplanationError("\(method): \(e.message) in model '\(model.architecture)'")
  }
  if model.inputShape.count != 3 {
    throw ExplanationError(
      "\(method) needs a spatial layer (an [N, C, H, W] activation), but model '\(model.architecture)' with input \(model.inputShape) has none (an MLP); use simplegrad, gradxinput, ig, smoothgrad or lrp")
  }
  return name
}

/// Checks that a captured activation is spatial.
func requireSpatial(_ a: Tensor, layer: String, model: Model, method: ExplanationMethod) throws {
  guard a.rank == 4 else {
    throw ExplanationError(
      "\(method) needs a spatial activation [N, C, H, W] at the input of layer '\(layer)', but model '\(model.architecture)' has \(a.shape) there; choose a convolutional layer", settings: ["layer"])
  }
}

/// Runs `body` with every ReLU of `model` replaced by `softplus(beta)` (when `beta` is set),
/// restoring each activation layer's previous activation afterwards.
func withExplanationActivations<T>(_ model: Model, beta: Float?, _ body: () throws -> T) throws -> T {
  guard let beta else { return try body() }
  guard beta > 0 else { throw ExplanationError("beta must be positive, got \(beta)") }
  let saved = model.namedLayers().compactMap { $0.layer as? ActivationLayer }.map { ($0, $0.activation) }
  // ReLU6 networks (EfficientNet-Lite) get the smooth ReLU6 of the same beta.
  model.setActivation(.softplus(beta: beta), includingReLU6: true)
  defer { for (layer, a) in saved { layer.activation = a } }
  return try body()
}

/// The raw map of `method` (no post-processing).
func rawExplanation(
  _ model: Model, _ x: Tensor, classes: [Int]?, method: ExplanationMethod, layer: String?, options: ExplanationOptions,
  forward: RecordedForward? = nil
) throws -> Explanation {
  let graph = options.createGraph
  func result(_ raw: Tensor, _ logits: Tensor, _ chosen: [Int]) -> Explanation {
    Explanation(method: method, raw: raw, heatmap: raw, logits: logits, classes: chosen, layer: layer)
  }
  switch method {
  case .simpleGrad:
    let g = try logitGradient(model, at: x, classes: classes, createGraph: graph, sharing: forward)
    return result(g.gradient.abs(), g.logits, g.classes)
  case .gradTimesInput:
    let g = try logitGradient(model, at: x, classes: classes, createGraph: graph, sharing: forward)
    return result(g.activation * g.gradient, g.logits, g.classes)
  case .simpleGradTarget:
    let g = try logitGradient(model, at: x, classes: classes, layer: layer, createGraph: graph, sharing: forward)
    try requireSpatial(g.activation, layer: layer!, model: model, method: method)
    return result(g.gradient.abs(), g.logits, g.classes)
  case .gradCAM:
    let g = try logitGradient(model, at: x, classes: classes, layer: layer, createGraph: graph, sharing: forward)
    try requireSpatial(g.activation, layer: layer!, model: model, method: method)
    let weights = g.gradient.mean(alongAxes: [2, 3], keepingDimensions: true)
    return result((weights * g.activation).sum(alongAxis: 1).relu(), g.logits, g.classes)
  case .lrp, .lrpTarget:
    let run = {
      try LRP.relevance(model: model, input: x, classes: classes, composite: options.lrp, stopAt: layer)
    }
    let r = graph ? try run() : try withoutRecording(run)
    if let layer { try requireSpatial(r.relevance, layer: layer, model: model, method: method) }
    return result(r.relevance, r.logits, r.classes)
  case .smoothGrad, .integratedGradients:
    return try averagedGradients(model, x, classes: classes, method: method, options: options)
  case .kernelSHAP, .lime, .occlusion:
    // Forward passes only: without a graph to keep, nothing is recorded (the perturbed copies
    // of a large batch would otherwise all stay alive for a backward pass that never comes).
    let run = {
      switch method {
      case .kernelSHAP: try KernelSHAP.explanation(model, x, classes: classes, options: options)
      case .lime: x.rank == 4 ? try ImageLIME.explanation(model, x, classes: classes, options: options)
        : try LIME.explanation(model, x, classes: classes, options: options)
      default: try Occlusion.explanation(model, x, classes: classes, options: options)
      }
    }
    return graph ? try run() : try withoutRecording(run)
  }
}

/// SmoothGrad (mean of `|gradient|` at `x + noise`) and Integrated Gradients (`x` times the mean
/// gradient at `k/m x`, `k = 1 ... m`), evaluating the copies in chunks of at most
/// `options.chunkRows` rows.
func averagedGradients(
  _ model: Model, _ x: Tensor, classes: [Int]?, method: ExplanationMethod, options: ExplanationOptions
) throws -> Explanation {
  let n = x.shape[0]
  let logits = model(x)
  let chosen = try resolveClasses(classes, logits: logits, method: method.rawValue)
  let smooth = method == .smoothGrad
  let copies = smooth ? options.smoothGradSamples : options.integratedGradientsSteps
  guard copies > 0 else { throw ExplanationError("\(method): needs at least one sample/step, got \(copies)") }
  var noiseScale = Tensor(options.smoothGradSigma)
  if smooth, let norm = leadingNormalize(model), x.rank == 4, x.shape[1] == norm.standardDeviation.count {
    noiseScale = Tensor(shape: [1, x.shape[1], 1, 1], scalars: norm.standardDeviation.map { $0 * options.smoothGradSigma })
  }
  var generator = SeededGenerator(seed: options.seed)
  let perChunk = max(1, options.chunkRows / max(n, 1))
  var total: Tensor?
  var k = 0
  while k < copies {
    let m = min(perChunk, copies - k)
    var parts: [Tensor] = []
    for j in 0..<m {
      if smooth {
        parts.append(x + Tensor.randomNormal(x.shape, using: &generator) * noiseScale)
      } else {
        parts.append(x * (Float(k + j + 1) / Float(copies)))
      }
    }
    let batch = m == 1 ? parts[0] : Tensor.concatenate(parts, alongAxis: 0)
    let labels = Array([[Int]](repeating: chosen, count: m).joined())
    let g = try logitGradient(model, at: batch, classes: labels, createGraph: options.createGraph).gradient
    let contribution = (smooth ? g.abs() : g).reshaped([m, n] + Array(x.shape.dropFirst())).sum(alongAxis: 0)
    total = total.map { $0 + contribution } ?? contribution
    k += m
  }
  let mean = total! / Float(copies)
  return Explanation(
    method: method, raw: smooth ? mean : x * mean, heatmap: mean, logits: logits, classes: chosen, layer: nil)
}

/// The ``Normalize`` layer a model starts with, if any (the first leaf layer in call order).
func leadingNormalize(_ model: Model) -> Normalize? {
  for l in model.namedLayers() where l.layer.children.isEmpty {
    return l.layer as? Normalize
  }
  return nil
}
