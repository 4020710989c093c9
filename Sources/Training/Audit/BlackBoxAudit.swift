import Foundation
import ModelFool
import ModelFoolData

/// Statistics of a tabular model's behaviour under the black-box explainers' perturbations, which
/// expose a scaffold (Slack et al. 2020; ``ScaffoldNetwork``): `audit manipulation --black-box`
/// (docs/METHODS.md §11.2, docs/AUDITING.md).
///
/// - `surrogate gap lime`, `surrogate gap kernelshap`: a conditional anomaly score in the spirit
///   of Carmichael and Scheirer's CAD-Detect (2023). A surrogate fitted on real rows, the
///   ``neighbours``-nearest-neighbour vote of the model's own predicted classes on ``referenceRows``
///   evenly spaced train rows (Euclidean distance on the encoded columns), predicts the model; the
///   statistic is its disagreement rate with the model on the explainer's perturbations minus that
///   on the audited (held-out) rows. A model that answers perturbations as it answers real rows
///   stays near its clean value; a scaffold answers them with another model, and the gap opens.
///   LIME's perturbations are drawn as ``LIME`` draws them (statistics of the train rows),
///   KernelSHAP's mask the audited rows with ``backgroundSize`` k-means centres of the train rows
///   (``OODClassifier/perturbations(of:players:source:background:count:seed:)``); as many of each
///   as audited rows.
/// - `share lime F`, `share kernelshap F`: each feature group's share of the attributions,
///   `mean_x |phi_F(x)| / sum_G |phi_G(x)|` (``BiasedBackground/share(_:player:players:)``), of
///   LIME (``limeSamples`` samples) and of KernelSHAP against the same k-means centres
///   (``coalitions`` sampled coalitions beyond 12 players), explaining the predicted class.
public enum BlackBoxAudit {
  /// Nearest neighbours of the surrogate's vote.
  public static let neighbours = 5
  /// Train rows the surrogate votes with (evenly spaced).
  public static let referenceRows = 2000
  /// k-means centres of KernelSHAP's background (Slack et al.'s `shap.kmeans(X, 10)`).
  public static let backgroundSize = 10
  /// LIME samples per explanation.
  public static let limeSamples = 1000
  /// KernelSHAP coalitions sampled beyond 12 players.
  public static let coalitions = 512

  /// The predicted class of each row of `queries` `[Q, D]` by the majority of the `k` nearest rows
  /// of `reference` `[R, D]` (squared Euclidean distance; ties to the nearer row first), whose
  /// classes are `labels`; a tie between classes goes to the class of the nearest voter among them.
  public static func neighbourVote(reference: Tensor, labels: [Int], queries: Tensor, k: Int) -> [Int] {
    let r = reference.detached().scalars, q = queries.detached().scalars, d = reference.shape[1]
    let n = reference.shape[0], kk = min(k, n)
    return (0..<queries.shape[0]).map { i in
      var best: [(Float, Int)] = []  // (distance, row), sorted, at most kk
      for j in 0..<n {
        var s: Float = 0
        for c in 0..<d { let t = q[i * d + c] - r[j * d + c]; s += t * t }
        if best.count < kk || s < best[best.count - 1].0 {
          let at = best.firstIndex { s < $0.0 } ?? best.count
          best.insert((s, j), at: at)
          if best.count > kk { best.removeLast() }
        }
      }
      var votes: [Int: Int] = [:]
      for (_, j) in best { votes[labels[j], default: 0] += 1 }
      let top = votes.values.max() ?? 0
      return best.first { votes[labels[$0.1]] == top }.map { labels[$0.1] } ?? 0
    }
  }

  /// The statistics of `model` on the audited rows `data`, with the train rows `train` `[R, D]`
  /// (which become the model's ``Model/explanationReference``, LIME's statistics).
  public static func statistics(_ model: Model, data: Dataset, train: Tensor, seed: UInt64) throws -> [AuditStatistic] {
    let players = try FeatureSpan.features(of: model)
    guard !players.isEmpty else { throw TrainingError("the black-box statistics need a tabular model with named features", settings: ["blackBox"]) }
    guard train.rank == 2, train.shape[1] == data.inputs.shape[1], train.shape[0] > 0 else {
      throw TrainingError("the black-box statistics need train rows of \(data.inputs.shape[1]) columns, got \(train.shape)", settings: ["blackBox"])
    }
    let x = data.inputs, n = data.count
    model.explanationReference = train
    func predicted(_ rows: Tensor) -> [Int] { withoutRecording { model(rows.detached()) }.argmaxLastAxis() }
    let step = max(1, train.shape[0] / referenceRows)
    let reference = train.selectingRows(Array(stride(from: 0, to: train.shape[0], by: step).prefix(referenceRows)))
    let labels = predicted(reference)
    func disagreement(_ rows: Tensor) -> Float {
      let vote = neighbourVote(reference: reference, labels: labels, queries: rows, k: neighbours)
      return Float(zip(vote, predicted(rows)).filter { $0 != $1 }.count) / Float(rows.shape[0])
    }
    let real = disagreement(x)
    let background = KMeans.centres(of: train, k: min(backgroundSize, train.shape[0]), seed: seed)
    var out: [AuditStatistic] = []
    for (source, rows) in [(PerturbationSource.lime, train), (.kernelshap, x)] {
      let fake = try OODClassifier.perturbations(of: rows, players: players, source: source, background: background, count: n, seed: seed &+ 11)
      out.append(AuditStatistic(name: "surrogate gap \(source.rawValue)", value: disagreement(fake) - real))
    }
    var options = ExplanationOptions()
    options.seed = seed
    options.createGraph = false
    options.blackBox.limeSamples = limeSamples
    options.blackBox.background = background
    options.blackBox.coalitions = coalitions
    let m = players.count
    for method in [ExplanationMethod.lime, .kernelSHAP] {
      let phi: Tensor = try withoutRecording {
        method == .lime ? try LIME.values(model, x, classes: nil, options: options).values : try KernelSHAP.values(model, x, classes: nil, options: options).values
      }
      let values = phi.scalars.map { Double($0) }
      for (i, f) in players.enumerated() {
        out.append(AuditStatistic(name: "share \(method.rawValue) \(f.name)", value: Float(BiasedBackground.share(values, player: i, players: m))))
      }
    }
    return out
  }
}
