import Foundation
import ModelFool
import ModelFoolData

extension InputAttack {
  /// Constraints that keep attacked tabular rows valid: numeric columns editable within the
  /// minimum and maximum of `reference` (`[N, D]`, e.g. the training rows), one-hot columns fixed.
  public static func tabularConstraints(features: [FeatureSpan], reference: Tensor) -> (editable: Tensor, low: Tensor, high: Tensor) {
    let d = reference.shape[1]
    var editable = [Float](repeating: 0, count: d)
    for c in FeatureSpan.numericColumns(of: features) { editable[c] = 1 }
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
}
