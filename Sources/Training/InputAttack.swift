import Foundation
import ModelFool
import ModelFoolData

/// Settings of the input-manipulation attack of Dombrowski et al. (NeurIPS 2019), section 4 of
/// METHODS.md: optimise the input, model fixed, so that its explanation matches a target map
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
  /// winners and stalls (digits CNN, gradient, 500 steps at lr 5e-2: PCC to the target 0.73 instead
  /// of 0.88).
  public var smoothPooling = true
  /// Optional perturbation budget and its norm (`linf` or `l2`); projected after every step.
  public var epsilon: Float?
  public var norm = "linf"
  /// Valid input range (images: [0, 1]); nil for standardised tabular rows.
  public var inputRange: (Float, Float)? = (0, 1)
  /// Tabular rows (``InputAttack/tabularConstraints(features:reference:)``): `[1, D]` masks and
  /// bounds. Only columns with `editable` 1 move (numeric features; a one-hot category cannot
  /// change by a fraction), each within `low ... high` (the range seen in the data). Nil: none.
  public var columns: (editable: Tensor, low: Tensor, high: Tensor)?
  public var showProgress = true
  public init() {}
}

/// Per-example results of an input attack.
public struct InputAttackExample: Codable, Sendable {
  public var index: Int
  public var targetIndex: Int
  public var label: Int
  public var originalClass: Int
  public var adversarialClass: Int
  public var labelChanged: Bool
  /// Change of the probability of the originally predicted class.
  public var probabilityChange: Float
  public var pccToTarget: Float
  public var ssimToTarget: Float?
  public var mseToTarget: Float
  public var pccToOriginal: Float
  public var ssimToOriginal: Float?
  public var mseToOriginal: Float
  public var inputSSIM: Float?
  public var inputMSE: Float
  public var perturbationLinf: Float
  public var perturbationL2: Float
}

/// Summary of an input attack (the `--json` object of `modelfool attack-input`).
public struct InputAttackSummary: Codable, Sendable {
  public var method: String
  public var count: Int
  public var pccToTargetMean: Float
  public var ssimToTargetMean: Float?
  public var pccToOriginalMean: Float
  public var labelsChanged: Int
  public var maxProbabilityChange: Float
  public var meanPerturbationLinf: Float
  public var meanPerturbationL2: Float
  public var seconds: Double
  /// With a beta sweep: the mean PCC to the target when the explanation is beta-smoothed.
  public var betaSweep: [String: Float]?
  public var examples: [InputAttackExample]
  /// With `--versus`: input manipulation against model manipulation on the same model and target.
  public var comparison: InputAttackComparison? = nil
  /// With `--target hide` (tabular): how well the hidden features are hidden.
  public var hiding: HidingScore? = nil
}

/// Tabular "hide a feature" input attack: where the hidden features rank before and after.
public struct HidingScore: Codable, Sendable {
  /// The hidden features.
  public var features: [String]
  /// Fraction of rows where every hidden feature ranks below the top 3 by |relevance| (the
  /// model-manipulation hide statistic), on the clean and on the attacked rows.
  public var hiddenFraction: BeforeAfter
  /// Mean rank (1 = most relevant) of each hidden feature, clean and attacked.
  public var meanRank: [String: BeforeAfter]
}

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

  /// Runs the attack on `x` (classes = the model's predictions on `x`) towards `targetMaps`.
  public static func run(
    _ model: Model, _ x: Tensor, targetMaps: Tensor, options: InputAttackOptions
  ) throws -> (adversarial: Tensor, classes: [Int]) {
    guard options.steps > 0, options.learningRate > 0 else { throw TrainingError("--steps and --lr must be positive") }
    if let e = options.epsilon, e <= 0 { throw TrainingError("the budget --epsilon must be positive, got \(e)") }
    guard ["linf", "l2"].contains(options.norm) else { throw TrainingError("unknown norm '\(options.norm)' (valid: linf, l2)") }
    model.setTraining(false)
    let clean = withoutRecording { model(x) }
    let classes = clean.argmaxLastAxis()
    let cleanProbabilities = clean.softmax(alongAxis: 1)
    let growth = options.method == .lrp || options.method == .lrpTarget ? nil : options.betaGrowth
    // With beta growth the explanation is taken on the smooth surrogate (max-pool -> smooth max of
    // the same beta, see SmoothMaxPool2D); LRP and --no-beta-growth keep the exact network.
    let surrogate = growth != nil && options.smoothPooling ? SmoothPoolSurrogate(model) : nil
    let current = Parameter(x)
    var adam = Adam(learningRate: options.learningRate)
    let bar = ProgressBar(label: "attack-input \(options.method)", total: options.steps, enabled: options.showProgress)
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
      guard loss.scalar.isFinite else { throw TrainingError("attack loss became \(loss.scalar) at step \(step + 1); lower --lr") }
      let g = gradients(of: loss, withRespectTo: [current.value])[0]
      adam.update([current], along: [g])
      current.value = project(current.value, original: x, options: options)
      bar.update(step + 1, metrics: [
        ("expl", String(format: "%.3g", explanationTerm.scalar)), ("out", String(format: "%.3g", outputTerm.scalar)),
        ("beta", beta.map { String(format: "%.1f", $0) } ?? "relu"),
      ])
    }
    bar.finish()
    return (current.value.detached(), classes)
  }

  /// Clamp to the valid range and project onto the budget ball around `original`.
  static func project(_ v: Tensor, original x: Tensor, options: InputAttackOptions) -> Tensor {
    withoutRecording {
      var r = v
      if let eps = options.epsilon {
        if options.norm == "linf" {
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

  /// Scores the attack: explanations with ReLU (or softplus(`beta`) for the defence) of the
  /// adversarial inputs against the targets and the originals.
  public static func evaluate(
    _ model: Model, original x: Tensor, adversarial: Tensor, classes: [Int], labels: [Int],
    targetMaps: Tensor, targetIndices: [Int], method: ExplanationMethod, beta: Float? = nil
  ) throws -> [InputAttackExample] {
    let hAdv = try attackMap(model, adversarial, classes: classes, method: method, beta: beta, createGraph: false).map.detached()
    let hOrig = try attackMap(model, x, classes: classes, method: method, beta: beta, createGraph: false).map.detached()
    let pClean = withoutRecording { model(x).softmax(alongAxis: 1) }.scalars
    let logitsAdv = withoutRecording { model(adversarial) }
    let pAdv = logitsAdv.softmax(alongAxis: 1).scalars
    let advClasses = logitsAdv.argmaxLastAxis()
    let k = logitsAdv.shape[1]
    let spatial = hAdv.rank == 3 ? (hAdv.shape[1], hAdv.shape[2]) : nil
    let imageSize = x.rank == 4 && x.shape[1] == 1 ? (x.shape[2], x.shape[3]) : nil
    let pccT = FoolingStatistics.perExample(hAdv, targetMaps, SimilarityMetrics.pearson)
    let mseT = FoolingStatistics.perExample(hAdv, targetMaps, SimilarityMetrics.mse)
    let pccO = FoolingStatistics.perExample(hAdv, hOrig, SimilarityMetrics.pearson)
    let mseO = FoolingStatistics.perExample(hAdv, hOrig, SimilarityMetrics.mse)
    let mseX = FoolingStatistics.perExample(adversarial, x, SimilarityMetrics.mse)
    let linf = FoolingStatistics.perExample(adversarial, x) { a, b in zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
    let l2 = FoolingStatistics.perExample(adversarial, x) { a, b in zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }
    func ssims(_ a: Tensor, _ b: Tensor, _ size: (Int, Int)?) -> [Float?] {
      guard let (h, w) = size else { return Array(repeating: nil, count: a.shape[0]) }
      return FoolingStatistics.perExample(a, b) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
    }
    let ssimT = ssims(hAdv, targetMaps, spatial), ssimO = ssims(hAdv, hOrig, spatial), ssimX = ssims(adversarial, x, imageSize)
    return (0..<x.shape[0]).map { i in
      InputAttackExample(
        index: i, targetIndex: targetIndices[i], label: labels[i], originalClass: classes[i],
        adversarialClass: advClasses[i], labelChanged: advClasses[i] != classes[i],
        probabilityChange: pAdv[i * k + classes[i]] - pClean[i * k + classes[i]],
        pccToTarget: pccT[i], ssimToTarget: ssimT[i], mseToTarget: mseT[i],
        pccToOriginal: pccO[i], ssimToOriginal: ssimO[i], mseToOriginal: mseO[i],
        inputSSIM: ssimX[i], inputMSE: mseX[i], perturbationLinf: linf[i], perturbationL2: l2[i])
    }
  }

  /// Means and extremes of the per-example results.
  public static func summarize(
    _ examples: [InputAttackExample], method: ExplanationMethod, seconds: Double, betaSweep: [String: Float]? = nil
  ) -> InputAttackSummary {
    let n = Float(max(examples.count, 1))
    let ssim = examples.compactMap(\.ssimToTarget)
    return InputAttackSummary(
      method: method.rawValue, count: examples.count,
      pccToTargetMean: examples.reduce(0) { $0 + $1.pccToTarget } / n,
      ssimToTargetMean: ssim.isEmpty ? nil : ssim.reduce(0, +) / Float(ssim.count),
      pccToOriginalMean: examples.reduce(0) { $0 + $1.pccToOriginal } / n,
      labelsChanged: examples.filter(\.labelChanged).count,
      maxProbabilityChange: examples.map { abs($0.probabilityChange) }.max() ?? 0,
      meanPerturbationLinf: examples.reduce(0) { $0 + $1.perturbationLinf } / n,
      meanPerturbationL2: examples.reduce(0) { $0 + $1.perturbationL2 } / n,
      seconds: seconds, betaSweep: betaSweep, examples: examples)
  }
}

extension InputAttackSummary {
  /// Terminal summary of an input attack.
  public func table() -> String {
    var lines = [
      String(format: "method %@: %d examples, PCC(h(x_adv), target) mean %.3f, PCC(h(x_adv), h(x)) mean %.3f", method as NSString, count, pccToTargetMean, pccToOriginalMean),
      String(format: "labels changed: %d of %d; max |change of the predicted class probability|: %.4f", labelsChanged, count, maxProbabilityChange),
      String(format: "perturbation: mean L-inf %.4f, mean L2 %.4f", meanPerturbationLinf, meanPerturbationL2),
    ]
    if let s = ssimToTargetMean { lines.append(String(format: "SSIM(h(x_adv), target) mean %.3f", s)) }
    if let hiding {
      lines.append(String(format: "rows with %@ below the top 3: clean %.1f%%, attacked %.1f%%", hiding.features.joined(separator: ", ") as NSString,
                          100 * hiding.hiddenFraction.original, 100 * hiding.hiddenFraction.fooled))
      for (name, r) in hiding.meanRank.sorted(by: { $0.key < $1.key }) {
        lines.append(String(format: "mean rank of %@: clean %.2f, attacked %.2f", name as NSString, r.original, r.fooled))
      }
    }
    if let betaSweep {
      lines.append("beta-smoothed explanations (same adversarial inputs): " + betaSweep.sorted { $0.key < $1.key }.map { String(format: "beta=%@ PCC %.3f", $0.key as NSString, $0.value) }.joined(separator: ", "))
    }
    return lines.joined(separator: "\n")
  }
}

extension InputAttack {
  /// Constraints that keep attacked tabular rows valid: numeric columns editable within the
  /// minimum and maximum of `reference` (`[N, D]`, e.g. the training rows), one-hot columns fixed.
  public static func tabularConstraints(features: [FeatureSpan], reference: Tensor) -> (editable: Tensor, low: Tensor, high: Tensor) {
    let d = reference.shape[1]
    var editable = [Float](repeating: 0, count: d)
    for f in features where f.categories.isEmpty { for c in f.columns { editable[c] = 1 } }
    let low = reference.min(alongAxes: [0], keepingDimensions: true)
    let high = reference.max(alongAxes: [0], keepingDimensions: true)
    return (Tensor(shape: [1, d], scalars: editable), low.detached(), high.detached())
  }

  /// Scores a tabular "hide" attack: per-feature relevance (``Heatmap/sumPerFeature(_:features:inputs:)``
  /// of the ReLU attack maps) of the clean and attacked rows, ranked.
  public static func hidingScore(
    _ model: Model, original x: Tensor, adversarial: Tensor, classes: [Int], method: ExplanationMethod,
    features: [FeatureSpan], hidden: [Int]
  ) throws -> HidingScore {
    let before = Heatmap.sumPerFeature(try attackMap(model, x, classes: classes, method: method, beta: nil, createGraph: false).map.detached(), features: features, inputs: x)
    let after = Heatmap.sumPerFeature(try attackMap(model, adversarial, classes: classes, method: method, beta: nil, createGraph: false).map.detached(), features: features, inputs: adversarial)
    let mean = { (v: [Float]) in v.reduce(0, +) / Float(max(v.count, 1)) }
    var ranks: [String: BeforeAfter] = [:]
    for g in hidden {
      ranks[features[g].name] = BeforeAfter(
        original: mean(FoolingStatistics.rank(before, group: g)), fooled: mean(FoolingStatistics.rank(after, group: g)))
    }
    return HidingScore(
      features: hidden.map { features[$0].name },
      hiddenFraction: BeforeAfter(
        original: mean(FoolingStatistics.hide(before, sensitive: hidden)), fooled: mean(FoolingStatistics.hide(after, sensitive: hidden))),
      meanRank: ranks)
  }

  /// The "hide a feature" target of a tabular row: its own attack map with the `columns` of the
  /// hidden features set to 0, renormalised to sum 1 (`[N, D]`).
  public static func hideTarget(_ maps: Tensor, columns: [Int]) -> Tensor {
    let d = maps.shape[1]
    var keep = [Float](repeating: 1, count: d)
    for c in columns { keep[c] = 0 }
    let kept = maps * Tensor(shape: [1, d], scalars: keep)
    return kept / (kept.sum(alongAxes: [1], keepingDimensions: true) + 1e-12)
  }

  /// The location objective's frame (``FoolingLoss/frameMask(height:width:)``) as an attack target:
  /// `|m| / sum |m|` per example, shaped like `maps` (`[N, h, w]`).
  public static func frameTarget(like maps: Tensor) -> Tensor {
    let (n, h, w) = (maps.shape[0], maps.shape[1], maps.shape[2])
    let m = FoolingLoss.frameMask(height: h, width: w)
    return (m / m.sum()).reshaped([1, h, w]).expand(to: [n, h, w])
  }

  /// Input manipulation against model manipulation on the same model, method and target maps:
  /// PCC/SSIM of the explanations to the target, labels changed and accuracy on the examples, and
  /// the time. The input attack's row comes from `inputAttack` (the base model on `x_adv`); the
  /// model manipulation's row explains the clean examples with `fooled`.
  public static func compare(
    inputAttack: InputAttackSummary, base: Model, fooled: Model, fooledSeconds: Double?, data: Dataset,
    classes: [Int], targetMaps: Tensor, method: ExplanationMethod
  ) throws -> InputAttackComparison {
    fooled.setTraining(false)
    let maps = try attackMap(fooled, data.inputs, classes: classes, method: method, beta: nil, createGraph: false).map.detached()
    let pcc = FoolingStatistics.perExample(maps, targetMaps, SimilarityMetrics.pearson)
    var ssim: [Float] = []
    if maps.rank == 3 {
      let (h, w) = (maps.shape[1], maps.shape[2])
      ssim = FoolingStatistics.perExample(maps, targetMaps) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
    }
    let n = data.count
    let fooledClasses = withoutRecording { fooled(data.inputs) }.argmaxLastAxis()
    let accuracy = { (predicted: [Int]) in Float(zip(predicted, data.labels).filter { $0 == $1 }.count) / Float(max(n, 1)) }
    let inputRow = AttackComparisonRow(
      attack: "input manipulation", pccToTarget: inputAttack.pccToTargetMean, ssimToTarget: inputAttack.ssimToTargetMean,
      labelsChanged: inputAttack.labelsChanged, accuracyBefore: accuracy(inputAttack.examples.map(\.originalClass)),
      accuracyAfter: accuracy(inputAttack.examples.map(\.adversarialClass)), seconds: inputAttack.seconds,
      scope: "these \(n) inputs only")
    let modelRow = AttackComparisonRow(
      attack: "model manipulation", pccToTarget: pcc.reduce(0, +) / Float(max(pcc.count, 1)),
      ssimToTarget: ssim.isEmpty ? nil : ssim.reduce(0, +) / Float(ssim.count),
      labelsChanged: zip(fooledClasses, classes).filter { $0 != $1 }.count, accuracyBefore: accuracy(classes),
      accuracyAfter: accuracy(fooledClasses), seconds: fooledSeconds, scope: "every input (the weights changed)")
    return InputAttackComparison(method: method.rawValue, examples: n, rows: [inputRow, modelRow])
  }
}

/// One attack in the input-vs-model manipulation comparison.
public struct AttackComparisonRow: Codable, Sendable {
  /// `input manipulation` or `model manipulation`.
  public var attack: String
  /// Mean PCC / SSIM of the explanations (ReLU network) to the target maps.
  public var pccToTarget: Float
  public var ssimToTarget: Float?
  /// Examples whose predicted class differs from the base model's on the clean input.
  public var labelsChanged: Int
  /// Accuracy on the examples before and after the attack.
  public var accuracyBefore: Float
  public var accuracyAfter: Float
  /// Time of the attack (input: the optimisation of these inputs; model: the fine-tuning, from the
  /// checkpoint's metadata), nil when unknown.
  public var seconds: Double?
  /// What the time buys.
  public var scope: String

  /// A row with every field given.
  public init(
    attack: String, pccToTarget: Float, ssimToTarget: Float?, labelsChanged: Int, accuracyBefore: Float,
    accuracyAfter: Float, seconds: Double?, scope: String
  ) {
    self.attack = attack
    self.pccToTarget = pccToTarget
    self.ssimToTarget = ssimToTarget
    self.labelsChanged = labelsChanged
    self.accuracyBefore = accuracyBefore
    self.accuracyAfter = accuracyAfter
    self.seconds = seconds
    self.scope = scope
  }
}

/// Input manipulation against model manipulation on the same model, method and target maps
/// (`modelfool attack-input --versus FINETUNED`).
public struct InputAttackComparison: Codable, Sendable {
  public var method: String
  public var examples: Int
  public var rows: [AttackComparisonRow]

  /// A comparison of `rows` for `method` on `examples` examples.
  public init(method: String, examples: Int, rows: [AttackComparisonRow]) {
    self.method = method
    self.examples = examples
    self.rows = rows
  }

  /// The rows as text cells: attack, PCC, SSIM, labels changed, accuracy, time, scope.
  public var cells: [[String]] {
    rows.map { r in
      [
        r.attack, String(format: "%.3f", r.pccToTarget), r.ssimToTarget.map { String(format: "%.3f", $0) } ?? "-",
        "\(r.labelsChanged) of \(examples)", String(format: "%.3f -> %.3f", r.accuracyBefore, r.accuracyAfter),
        r.seconds.map { String(format: "%.1f s", $0) } ?? "-", r.scope,
      ]
    }
  }

  /// Column names of ``cells``.
  public static let header = ["attack", "PCC to target", "SSIM to target", "labels changed", "accuracy", "time", "time buys"]

  /// Terminal table.
  public func table() -> String {
    let widths = [20, 14, 15, 15, 15, 9, 32]
    func row(_ cells: [String]) -> String {
      zip(cells, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
    }
    return (["same model, method \(method), same target maps, \(examples) examples:", row(Self.header)] + cells.map(row)).joined(separator: "\n")
  }
}
