import Foundation
import ModelFool
import ModelFoolData

/// The scaffolding attack of Slack et al., "Fooling LIME and SHAP: Adversarial Attacks on Post hoc
/// Explanation Methods" (AIES 2020): a biased model `f`, an innocuous model `psi` and an
/// out-of-distribution detector combine into `e(x) = f(x)` where the detector takes `x` for a real
/// row and `psi(x)` where it takes it for a perturbation. LIME and KernelSHAP query the model
/// almost only on perturbations, so they explain `psi`; real rows are still decided by `f`.
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

extension Model {
  /// Takes the class names, feature names and feature groups of `other`.
  func adoptNames(of other: Model) {
    classNames = other.classNames
    featureNames = other.featureNames
    featureGroupsJSON = other.featureGroupsJSON
  }
}

/// The scaffolded classifier `e(x)`: the biased model's logits where the detector's probability of
/// "real row" (class 0) is at least ``threshold`` (and, with ``seenValues``, every numeric value of
/// the row occurs in the train rows), the innocuous model's elsewhere.
public final class ScaffoldNetwork: Layer {
  /// `f`, decides from the sensitive feature.
  public let biased: Model
  /// `psi`, decides from the decoy (or innocuous) feature(s).
  public let innocuous: Model
  /// The out-of-distribution detector: class 0 real rows, class 1 perturbations.
  public let detector: Model
  /// The detector's probability of class 0 at and above which a row counts as real.
  public let threshold: Float
  /// The numeric values of the train rows, or nil for the learned detector alone.
  public let seenValues: SeenValues?

  public init(biased: Model, innocuous: Model, detector: Model, threshold: Float = 0.5, seenValues: SeenValues? = nil) {
    self.biased = biased
    self.innocuous = innocuous
    self.detector = detector
    self.threshold = threshold
    self.seenValues = seenValues
  }

  /// Whether the detector (and ``seenValues``) take each row of `x` `[N, D]` for a real row.
  public func inDistribution(_ x: Tensor) -> [Bool] {
    let p = withoutRecording { detector(x.detached()).softmax(alongAxis: -1) }.scalars
    let seen = seenValues?.contains(x) ?? [Bool](repeating: true, count: x.shape[0])
    return (0..<x.shape[0]).map { p[$0 * 2] >= threshold && seen[$0] }
  }

  /// `m f(x) + (1 - m) psi(x)` on the logits, `m` the detector's 0/1 decision per row.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    let m = Tensor(shape: [x.shape[0], 1], scalars: inDistribution(x).map { $0 ? 1 : 0 })
    return biased(x) * m + innocuous(x) * (1 - m)
  }

  public var children: [(name: String, layer: any Layer)] {
    [("biased", biased), ("innocuous", innocuous), ("detector", detector)]
  }

  public func deepCopy() -> ScaffoldNetwork {
    ScaffoldNetwork(
      biased: biased.deepCopy(), innocuous: innocuous.deepCopy(), detector: detector.deepCopy(), threshold: threshold,
      seenValues: seenValues)
  }

  /// The scaffold as a ``Model`` with the names and reference rows of `biased`, for the explainers.
  public func model() -> Model {
    let m = Model(network: self, architecture: "scaffold", inputShape: biased.inputShape)
    m.adoptNames(of: biased)
    m.explanationReference = biased.explanationReference
    return m
  }
}
