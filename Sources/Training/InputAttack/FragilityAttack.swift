import Foundation
import ModelFool

/// The input attacks of Ghorbani, Abid and Zou (AAAI 2019), "Interpretation of neural networks is
/// fragile" (docs/METHODS.md §8.6): under an L-infinity budget `epsilon`, move each input so that
/// its explanation moves *away* from its own clean map while the predicted class stays.
///
/// - top-k: lower the attack-map mass on the clean map's `k` most relevant entries,
///   `D(x) = -sum_{i in B} h(x)_i`;
/// - center-mass: move the map's centre of mass, `D(x) = ||C(h(x)) - C(h(x_0))||_2`;
/// - random-sign: the baseline, `x_0 + epsilon * sign(u)` with `u` uniform in [-1, 1] (seeded).
///
/// The iterative attacks take `steps` signed-gradient steps of `2.5 epsilon / steps` (PGD's
/// usual step), each projected onto the budget and the valid range; per example the iterate with
/// the largest dissimilarity, measured on the map the clean maps came from (the exact network's,
/// or the defence's softplus network), among those whose class is unchanged is kept. The gradient is taken on the beta-smoothed network of the Dombrowski attack
/// (softplus and smooth max-pools, beta growing) where the method uses it: a ReLU network's
/// gradient map is piecewise constant in the input.
public enum FragilityAttack {
  /// Which dissimilarity the attack maximises.
  public enum Kind: String, Sendable {
    case topK = "topk", centerMass = "center-mass", randomSign = "random-sign"
  }

  /// The `k` of the top-k attack and score: 2% of a map's entries, at least 1 (Ghorbani et al.
  /// take the top 1,000 of 227 x 227 ImageNet pixels, 1.9%).
  public static func topK(entries: Int) -> Int { max(1, Int((0.02 * Double(entries)).rounded())) }

  /// Attacks `x` (`[N, C, H, W]`, values in `options.inputRange`) whose clean attack maps are
  /// `originalMaps`, computed with the scoring network's softplus `scoringBeta` (nil: the exact
  /// ReLU network; a beta under the `--defence` of the same value); `classes` are the model's
  /// classes on `x`. Each iterate is scored with that same beta. Returns the attacked inputs.
  public static func run(
    _ model: Model, _ x: Tensor, originalMaps: Tensor, classes: [Int], kind: Kind, options: InputAttackOptions,
    scoringBeta: Float? = nil, seed: UInt64, observer: RunObserver = .silent
  ) throws -> Tensor {
    guard let epsilon = options.epsilon, epsilon > 0, options.norm == .linf else {
      throw TrainingError("the \(kind.rawValue) attack needs an L-infinity budget (--epsilon, e.g. 8/255)", settings: ["epsilon"])
    }
    if kind == .centerMass, originalMaps.rank != 3 {
      throw TrainingError("the center-mass attack needs spatial maps; \(options.method) gives \(originalMaps.shape)", settings: ["target"])
    }
    model.setTraining(false)
    if kind == .randomSign {
      var g = SeededGenerator(seed: seed)
      let u = Tensor.randomUniform(x.shape, using: &g)
      return InputAttack.project(x + epsilon * (2 * u - 1).sign(), original: x, options: options)
    }
    let n = x.shape[0]
    let perExample = originalMaps.count / n
    let k = topK(entries: perExample)
    // Top-k: a mask of each clean map's k largest entries; center-mass: the clean centres.
    let mask = kind == .topK ? topKMask(originalMaps.detached(), k: k) : nil
    let centres = kind == .centerMass ? FoolingLoss.centerOfMass(originalMaps.detached()) : nil
    func dissimilarity(_ maps: Tensor) -> Tensor {
      let axes = Array(1..<maps.rank)
      if let mask { return -(maps * mask).sum(alongAxes: axes) }
      return ((FoolingLoss.centerOfMass(maps, prior: centres!) - centres!).squared().sum(alongAxes: [1]) + 1e-12).sqrt()
    }
    let growth = options.method.usesBetaSmoothing ? options.betaGrowth : nil
    let surrogate = growth != nil && options.smoothPooling ? SmoothPoolSurrogate(model) : nil
    let stepSize = 2.5 * epsilon / Float(options.steps)
    var current = x
    var best = x.scalars, bestScore = withoutRecording { dissimilarity(originalMaps.detached()) }.scalars
    let exampleSize = x.count / n
    let task = "attack-input \(kind.rawValue) \(options.method)"
    observer.progress(RunProgress(task: task, done: 0, total: options.steps))
    for step in 0..<options.steps {
      let beta = growth.map { $0.0 * Foundation.pow($0.1 / $0.0, Float(step) / Float(options.steps)) }
      if let beta { surrogate?.setBeta(beta) }
      let input = Parameter(current)
      let (h, _) = try InputAttack.attackMap(
        surrogate?.model ?? model, input.value, classes: classes, method: options.method, beta: beta, createGraph: true)
      let g = gradients(of: dissimilarity(h).sum(), withRespectTo: [input.value])[0]
      current = InputAttack.project(current + stepSize * g.sign(), original: x, options: options)
      // Keep, per example, the most dissimilar iterate (scored as the clean maps were) whose
      // class is unchanged.
      let exact = try InputAttack.attackMap(model, current, classes: classes, method: options.method, beta: scoringBeta, createGraph: false)
      let scores = withoutRecording { dissimilarity(exact.map.detached()) }.scalars
      let predicted = exact.logits.detached().argmaxLastAxis()
      let values = current.scalars
      var improved = 0
      for i in 0..<n where predicted[i] == classes[i] && scores[i] > bestScore[i] {
        bestScore[i] = scores[i]
        best.replaceSubrange((i * exampleSize)..<((i + 1) * exampleSize), with: values[(i * exampleSize)..<((i + 1) * exampleSize)])
        improved += 1
      }
      observer.progress(RunProgress(task: task, done: step + 1, total: options.steps, metrics: [
        RunMetric("D", .number(Double(bestScore.reduce(0, +) / Float(n)))), RunMetric("improved", .number(Double(improved))),
      ]))
    }
    observer.finished(task)
    return Tensor(shape: x.shape, scalars: best)
  }

  /// 1 at each map's `k` largest entries, else 0 (shaped like `maps`).
  static func topKMask(_ maps: Tensor, k: Int) -> Tensor {
    let n = maps.shape[0], size = maps.count / n, v = maps.scalars
    var mask = [Float](repeating: 0, count: maps.count)
    for i in 0..<n {
      for j in SimilarityMetrics.topIndices(Array(v[(i * size)..<((i + 1) * size)]), k: k) { mask[i * size + j] = 1 }
    }
    return Tensor(shape: maps.shape, scalars: mask)
  }

  /// Ghorbani et al.'s measures of how far the maps moved: per example the top-k intersection
  /// and the Spearman rank correlation of the clean and attacked maps, and the shift of their
  /// centres of mass in input pixels (for spatial maps).
  public static func score(originalMaps: Tensor, adversarialMaps: Tensor, inputHeight: Int?) -> FragilityScore {
    let n = originalMaps.shape[0], size = originalMaps.count / n
    let a = originalMaps.scalars, b = adversarialMaps.scalars
    let k = topK(entries: size)
    var topK: [Float] = [], spearman: [Float] = []
    for i in 0..<n {
      let x = Array(a[(i * size)..<((i + 1) * size)]), y = Array(b[(i * size)..<((i + 1) * size)])
      topK.append(SimilarityMetrics.topKIntersection(x, y, k: k))
      spearman.append(SimilarityMetrics.spearman(x, y))
    }
    var shifts: [Float]?
    if originalMaps.rank == 3, let inputHeight {
      let scale = Float(inputHeight) / Float(originalMaps.shape[1])
      let c0 = FoolingLoss.centerOfMass(originalMaps).scalars, c1 = FoolingLoss.centerOfMass(adversarialMaps).scalars
      shifts = (0..<n).map { i in
        let dh = c0[2 * i] - c1[2 * i], dw = c0[2 * i + 1] - c1[2 * i + 1]
        return scale * (dh * dh + dw * dw).squareRoot()
      }
    }
    let mean = { (v: [Float]) in v.reduce(0, +) / Float(max(v.count, 1)) }
    return FragilityScore(
      k: k, topKIntersection: mean(topK), spearman: mean(spearman), centerShiftPixels: shifts.map(mean),
      perExampleTopK: topK, perExampleSpearman: spearman, perExampleCenterShift: shifts)
  }
}

/// How far an attack moved the explanations from the clean ones (Ghorbani et al. 2019's
/// measures): means over the examples, then per example.
public struct FragilityScore: Codable, Sendable, Equatable {
  /// The `k` of the top-k intersection (``FragilityAttack/topK(entries:)``).
  public var k: Int
  /// Fraction of the clean map's top k entries still in the attacked map's top k (1: unmoved).
  public var topKIntersection: Float
  /// Spearman rank correlation of the clean and attacked maps (1: unmoved).
  public var spearman: Float
  /// Distance between the maps' centres of mass, in input pixels (spatial maps only).
  public var centerShiftPixels: Float?
  public var perExampleTopK: [Float]
  public var perExampleSpearman: [Float]
  public var perExampleCenterShift: [Float]?
}
