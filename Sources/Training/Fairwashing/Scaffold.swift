import Foundation
import ModelFool
import ModelFoolData

/// The scaffolding attack of Slack et al., "Fooling LIME and SHAP: Adversarial Attacks on Post hoc
/// Explanation Methods" (AIES 2020): a biased model `f`, an innocuous model `psi` and an
/// out-of-distribution detector combine into `e(x) = f(x)` where the detector takes `x` for a real
/// row and `psi(x)` where it takes it for a perturbation. LIME and KernelSHAP query the model
/// almost only on perturbations, so they explain `psi`; real rows are still decided by `f`.
///
/// The scaffold itself is a model kind of the engine (``ScaffoldNetwork``, ``ScaffoldModel``).
///
/// Implementation note: `f` and `psi` are threshold rules on one or two input columns, written as
/// linear ``ModelZoo`` `mlp` models (no hidden layer) with a steep gain, so they are checkpoints
/// like any model and their logits are exactly zero-weighted on every other column.

/// A decision rule `sum_j w_j x_j > t` -> the unfavourable class, else the favourable one.
public struct ThresholdRule: Codable, Sendable, Equatable {
  /// The input columns it reads.
  public var columns: [Int]
  /// Their weights `w_j`.
  public var weights: [Float]
  /// The threshold `t`.
  public var threshold: Float
  /// The class given when the weighted sum exceeds the threshold.
  public var unfavourable: Int
  /// The class given otherwise.
  public var favourable: Int
  /// In words ("race = African-American").
  public var summary: String

  /// The logit gain of the linear model: `1000 (w . x - t)`, so that the softmax probability is
  /// 0 or 1 in Float32 except within 0.02 of the threshold.
  public static let gain: Float = 1000

  public init(columns: [Int], weights: [Float], threshold: Float, unfavourable: Int, favourable: Int, summary: String) {
    self.columns = columns
    self.weights = weights
    self.threshold = threshold
    self.unfavourable = unfavourable
    self.favourable = favourable
    self.summary = summary
  }

  /// Whether row `row` of the flat rows `x` (`d` columns) falls on the unfavourable side.
  public func isUnfavourable(_ x: [Float], row: Int, columns d: Int) -> Bool {
    zip(columns, weights).reduce(Float(0)) { $0 + $1.1 * x[row * d + $1.0] } > threshold
  }

  /// Sets the weights of `linear`, a two-class `mlp` without hidden layers over `d` inputs, to the
  /// rule: logit of ``unfavourable`` `gain (w . x - t)`, logit of ``favourable`` 0; every other
  /// column has weight 0. Returns `linear`.
  public func model(_ linear: Model) throws -> Model {
    let named = Dictionary(uniqueKeysWithValues: linear.namedParameters().map { ($0.name, $0.parameter) })
    guard named.count == 2, let weight = named["0.weight"], let bias = named["0.bias"], weight.shape.count == 2,
          weight.shape[0] == 2, columns.allSatisfy({ $0 >= 0 && $0 < weight.shape[1] }), columns.count == weights.count,
          unfavourable != favourable, [unfavourable, favourable].allSatisfy({ $0 == 0 || $0 == 1 }) else {
      throw TrainingError("decision rule '\(summary)' needs a two-class linear model over its columns")
    }
    let d = weight.shape[1]
    var w = [Float](repeating: 0, count: 2 * d)
    for (c, v) in zip(columns, weights) { w[unfavourable * d + c] = Self.gain * v }
    var b: [Float] = [0, 0]
    b[unfavourable] = -Self.gain * threshold
    weight.value = Tensor(shape: [2, d], scalars: w)
    bias.value = Tensor(shape: [2], scalars: b)
    return linear
  }
}
