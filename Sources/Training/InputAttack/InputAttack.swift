import Foundation
import ModelFool
import ModelFoolData

/// Settings of the input-manipulation attack of Dombrowski et al. (NeurIPS 2019), docs/METHODS.md
/// §8: optimise the input, model fixed, so that its explanation matches a target map
/// while the output stays.
public struct InputAttackOptions: Sendable {
  /// Explanation method attacked (gradient = SimpleGrad at the input).
  public var method: ExplanationMethod = .simpleGrad
  public var steps = 300
  public var learningRate: Float = 1e-3
  /// Prefactor of `||h(x_adv) - h_t||^2` (reference code: 1e11).
  public var explanationWeight: Float = 1e11
  /// Prefactor of `||softmax(x_adv) - softmax(x)||^2` (reference code: 1e6, i.e. gamma = 1e-5 relative).
  public var outputWeight: Float = 1e6
  /// ReLU -> softplus(beta) during the attack, beta growing exponentially from `.0` to `.1`
  /// (`beta_i = from * (to/from)^(i/N)`); nil keeps ReLU (always for LRP).
  public var betaGrowth: (Float, Float)? = (10, 100)
  /// With beta growth, also replace every non-overlapping max-pool by the smooth max of the same
  /// beta during the attack (``SmoothMaxPool2D``): without it the attack cannot move the pools'
  /// winners and stalls (docs/METHODS.md §8.4; measured: docs/RESULTS.md §5).
  public var smoothPooling = true
  /// Optional perturbation budget and its norm (`linf` or `l2`); projected after every step.
  public var epsilon: Float?
  public var norm = PerturbationNorm.linf
  /// Valid input range (images: [0, 1]); nil for standardised tabular rows.
  public var inputRange: (Float, Float)? = (0, 1)
  /// Tabular rows (``InputAttack/tabularConstraints(features:reference:)``): `[1, D]` masks and
  /// bounds. Only columns with `editable` 1 move (numeric features; a one-hot category cannot
  /// change by a fraction), each within `low ... high` (the range seen in the data). Nil: none.
  public var columns: (editable: Tensor, low: Tensor, high: Tensor)?
  public init() {}
}

/// The norm of the input attack's perturbation budget.
public enum PerturbationNorm: String, Codable, CaseIterable, Sendable {
  /// Largest change of any input value.
  case linf
  /// Euclidean length of the change of one example.
  case l2
}

/// The map that attacked inputs' explanations are pushed towards.
public enum AttackTarget: String, Codable, CaseIterable, Sendable {
  /// Another example's explanation.
  case image
  /// The location objective's frame, as the model-manipulation attack uses it.
  case frame
  /// Tabular rows: the row's own explanation without the sensitive features.
  case hide
  /// Ghorbani et al. (2019), away from the clean map (``FragilityAttack``): its top-k entries lose
  /// their relevance, its centre of mass moves, or (the baseline) a random sign perturbation.
  case topK = "topk", centerMass = "center-mass", randomSign = "random-sign"

  /// The attack of Ghorbani et al. this target names; nil for the targets of Dombrowski et al.
  public var fragility: FragilityAttack.Kind? { FragilityAttack.Kind(rawValue: rawValue) }
}

/// The input-manipulation attack: the optimisation loop and its projection.
public enum InputAttack {
  /// The map the attack compares: `|e| / sum |e|` of the post-processed explanation (`[N, ...]`).
  public static func attackMap(
    _ model: Model, _ x: Tensor, classes: [Int], method: ExplanationMethod, beta: Float?, createGraph: Bool
  ) throws -> (map: Tensor, logits: Tensor) {
    var options = ExplanationOptions()
    options.beta = beta
    options.createGraph = createGraph
    let e = try explanation(model, x, labels: classes, method: method, options: options)
    let a = e.heatmap.abs()
    let axes = Array(1..<a.rank)
    return (a / (a.sum(alongAxes: axes, keepingDimensions: true) + 1e-12), e.logits)
  }

  /// Runs the attack on `x` (classes = the model's predictions on `x`) towards `targetMaps`,
  /// reporting every step to `observer`.
  public static func run(
    _ model: Model, _ x: Tensor, targetMaps: Tensor, options: InputAttackOptions, observer: RunObserver = .silent
  ) throws -> (adversarial: Tensor, classes: [Int]) {
    guard options.steps > 0, options.learningRate > 0 else {
      throw TrainingError("steps and learning rate must be positive", settings: ["steps", "learningRate"])
    }
    if let e = options.epsilon, !(e > 0) {
      throw TrainingError("the perturbation budget must be positive, got \(e)", settings: ["epsilon"])
    }
    model.setTraining(false)
    let clean = withoutRecording { model(x) }
    let classes = clean.argmaxLastAxis()
    let cleanProbabilities = clean.softmax(alongAxis: 1)
    let growth = options.method.usesBetaSmoothing ? options.betaGrowth : nil
    // With beta growth the explanation is taken on the smooth surrogate (max-pool -> smooth max of
    // the same beta, see SmoothMaxPool2D); LRP and --no-beta-growth keep the exact network.
    let surrogate = growth != nil && options.smoothPooling ? SmoothPoolSurrogate(model) : nil
    let current = Parameter(x)
    var adam = Adam(learningRate: options.learningRate)
    let task = "attack-input \(options.method)"
    observer.progress(RunProgress(task: task, done: 0, total: options.steps))
    for step in 0..<options.steps {
      // Cosine decay of the step size: large moves early, fine matching at high beta at the end.
      adam.learningRate = LearningRateSchedule.cosine(totalSteps: options.steps, floor: 0.05)
        .rate(base: options.learningRate, step: step)
      let beta = growth.map { $0.0 * Foundation.pow($0.1 / $0.0, Float(step) / Float(options.steps)) }
      if let beta { surrogate?.setBeta(beta) }
      let (h, logits) = try attackMap(surrogate?.model ?? model, current.value, classes: classes, method: options.method, beta: beta, createGraph: true)
      let n = Float(x.shape[0])
      let explanationTerm = (h - targetMaps).squared().sum() * (options.explanationWeight / n)
      let outputTerm = (logits.softmax(alongAxis: 1) - cleanProbabilities).squared().sum() * (options.outputWeight / n)
      let loss = explanationTerm + outputTerm
      guard loss.scalar.isFinite else {
        throw TrainingError("attack loss became \(loss.scalar) at step \(step + 1); lower the learning rate", settings: ["learningRate"])
      }
      let g = gradients(of: loss, withRespectTo: [current.value])[0]
      adam.update([current], along: [g])
      current.value = project(current.value, original: x, options: options)
      observer.progress(RunProgress(task: task, done: step + 1, total: options.steps, metrics: [
        RunMetric("expl", .loss(Double(explanationTerm.scalar))), RunMetric("out", .loss(Double(outputTerm.scalar))),
        RunMetric("beta", beta.map { .number(Double($0)) } ?? .text("relu")),
      ]))
    }
    observer.finished(task)
    return (current.value.detached(), classes)
  }

  /// Clamp to the valid range and project onto the budget ball around `original`.
  static func project(_ v: Tensor, original x: Tensor, options: InputAttackOptions) -> Tensor {
    withoutRecording {
      var r = v
      if let eps = options.epsilon {
        if options.norm == .linf {
          r = Tensor.minimum(Tensor.maximum(r, x - eps), x + eps)
        } else {
          let d = r - x
          let axes = Array(1..<d.rank)
          let norms = d.squared().sum(alongAxes: axes, keepingDimensions: true).sqrt()
          r = x + d * Tensor.minimum(Tensor(1), eps / (norms + 1e-12))
        }
      }
      if let (lo, hi) = options.inputRange { r = r.clamped(lo, hi) }
      if let c = options.columns {
        r = Tensor.minimum(Tensor.maximum(x + (r - x) * c.editable, c.low), c.high)
      }
      return r
    }
  }

}
