import Foundation
import ModelFool
import ModelFoolData

/// How often a feature ranks 1st, 2nd and 3rd by |attribution| over explained rows (Slack et al.'s
/// Figures 3-5 measure, as fractions in [0, 1]).
public struct RankRates: Codable, Sendable, Equatable {
  public var first: Double
  public var second: Double
  public var third: Double

  public init(first: Double, second: Double, third: Double) {
    self.first = first
    self.second = second
    self.third = third
  }

  /// The rates of player `player` over the rows of `values` `[N, M]`. A player's rank is 1 plus
  /// the number of players with a strictly larger |value|, so a tie counts for the player ranked
  /// (a feature with no attribution among others with none ranks with them, at the top).
  public static func of(player: Int, in values: [Float], players m: Int) -> RankRates {
    let n = values.count / max(m, 1)
    var counts = [0, 0, 0]
    for r in 0..<n {
      let own = abs(values[r * m + player])
      let rank = 1 + (0..<m).filter { abs(values[r * m + $0]) > own }.count
      if rank <= 3 { counts[rank - 1] += 1 }
    }
    let total = Double(max(n, 1))
    return RankRates(first: Double(counts[0]) / total, second: Double(counts[1]) / total, third: Double(counts[2]) / total)
  }
}

/// The explainer a ranking comes from.
public enum ScaffoldExplainer: String, Codable, Sendable, CaseIterable {
  case lime, kernelshap
}

/// One explainer's rankings of the biased model alone and of the scaffold.
public struct ScaffoldRanking: Codable, Sendable {
  public var explainer: ScaffoldExplainer
  /// Explained rows (the first of the test split).
  public var rows: Int
  /// The sensitive feature's rates for `f` alone.
  public var biasedSensitive: RankRates
  /// The sensitive feature's rates for the scaffold.
  public var scaffoldSensitive: RankRates
  /// Each innocuous feature's rates for the scaffold, by feature name.
  public var scaffoldInnocuous: [String: RankRates]
  /// Fraction of rows whose top feature moves from the sensitive feature (for `f`) to an
  /// innocuous one (for the scaffold): Slack et al.'s measure (``moved(from:to:alone:fooled:players:)``).
  public var topFeatureMoved: Double
  /// Slack et al.'s numbers for this data set and explainer, when they report them.
  public var paper: PaperScaffoldNumbers?

  /// The fraction of rows where player `sensitive` ranks first in `alone` `[N, M]` and one of
  /// `innocuous` ranks first in `fooled` `[N, M]` (rank: 1 plus the players with a strictly larger
  /// |value|, as ``RankRates``); 0 without innocuous players.
  public static func moved(from sensitive: Int, to innocuous: [Int], alone: [Float], fooled: [Float], players m: Int) -> Double {
    let n = alone.count / max(m, 1)
    func first(_ p: Int, _ v: [Float], _ r: Int) -> Bool { !(0..<m).contains { abs(v[r * m + $0]) > abs(v[r * m + p]) } }
    let count = (0..<n).filter { r in first(sensitive, alone, r) && innocuous.contains { first($0, fooled, r) } }.count
    return Double(count) / Double(max(n, 1))
  }

  /// Attributions `[N, M]` of `explainer` for `model` on `x` (the predicted class, probability
  /// output), one per feature group.
  public static func attributions(
    _ explainer: ScaffoldExplainer, model: Model, rows x: Tensor, options: ExplanationOptions
  ) throws -> [Float] {
    try withoutRecording {
      switch explainer {
      case .lime: try LIME.values(model, x, classes: nil, options: options).values.scalars
      case .kernelshap: try KernelSHAP.values(model, x, classes: nil, options: options).values.scalars
      }
    }
  }
}

/// Slack et al.'s reported results, as stated in Slack et al. 2020, AIES ("Fooling LIME and SHAP:
/// Adversarial Attacks on Post hoc Explanation Methods"): the fraction of test rows on which the
/// explainer's top feature moves from the sensitive feature to the innocuous one, and the
/// fidelity (agreement of the scaffold with `f` on the test rows). Their explainers are the `lime`
/// and `shap` packages (LIME without discretisation, KernelSHAP with a 10-means background),
/// their detector a random forest.
public struct PaperScaffoldNumbers: Codable, Sendable, Equatable {
  /// Fraction of test rows whose top feature moves from the sensitive to the innocuous feature.
  public var topFeatureMoved: Double
  /// Fidelity of the scaffold to `f`, where stated.
  public var fidelity: Double?
  /// Where the numbers come from.
  public var source: String

  /// The citation of every value.
  public static let citation = "as stated in Slack et al. 2020, AIES"

  /// The numbers for `dataset`, `explainer` and the number of decoy columns (`decoys`; 0 for a
  /// real innocuous feature): COMPAS (race; one decoy: LIME 100%, KernelSHAP 84%; two decoys:
  /// KernelSHAP 67%) and German credit (gender; LIME 91%, KernelSHAP 85%), with fidelity 100%
  /// for LIME and 91% / 80% for KernelSHAP on COMPAS / German; nil where they state none.
  public static func of(dataset: String, explainer: ScaffoldExplainer, decoys: Int = 1) -> PaperScaffoldNumbers? {
    switch (dataset, explainer, decoys) {
    case ("compas", .lime, 1): PaperScaffoldNumbers(topFeatureMoved: 1.00, fidelity: 1.00, source: citation)
    case ("compas", .kernelshap, 1): PaperScaffoldNumbers(topFeatureMoved: 0.84, fidelity: 0.91, source: citation)
    case ("compas", .kernelshap, 2): PaperScaffoldNumbers(topFeatureMoved: 0.67, fidelity: nil, source: citation)
    case ("german", .lime, 0), ("german", .lime, 1): PaperScaffoldNumbers(topFeatureMoved: 0.91, fidelity: 1.00, source: citation)
    case ("german", .kernelshap, 0), ("german", .kernelshap, 1): PaperScaffoldNumbers(topFeatureMoved: 0.85, fidelity: 0.80, source: citation)
    default: nil
    }
  }
}
