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
  /// Slack et al.'s numbers for this data set and explainer, when they report them.
  public var paper: PaperScaffoldNumbers?

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

/// Slack et al.'s reported rates (AIES 2020, "Fooling LIME and SHAP: Adversarial Attacks on Post
/// hoc Explanation Methods", Figures 3 and 5: the percentage of test rows where a feature is the
/// most important one). Read from the paper's bar charts, approximate (the paper gives no table);
/// their explainers are the `lime` and `shap` packages (LIME without discretisation, KernelSHAP
/// with a 10-means background), their detector a random forest.
public struct PaperScaffoldNumbers: Codable, Sendable, Equatable {
  /// Top-1 rate of the sensitive feature for the biased model alone.
  public var biasedSensitiveFirst: Double
  /// Top-1 rate of the sensitive feature after scaffolding (one innocuous feature).
  public var scaffoldSensitiveFirst: Double
  /// Top-1 rate of the innocuous feature after scaffolding (one innocuous feature).
  public var scaffoldInnocuousFirst: Double
  /// Where the numbers come from.
  public var source: String

  /// The numbers for `dataset` and `explainer`: COMPAS (race, one synthetic decoy) and German
  /// credit (gender, loan rate as % of income); nil for other data sets.
  public static func of(dataset: String, explainer: ScaffoldExplainer) -> PaperScaffoldNumbers? {
    let figure = "Slack et al. 2020, Fig. 3 (COMPAS) / Fig. 5 (German), read from the bar charts, approximate"
    switch (dataset, explainer) {
    case ("compas", .lime): return PaperScaffoldNumbers(biasedSensitiveFirst: 1.0, scaffoldSensitiveFirst: 0.0, scaffoldInnocuousFirst: 1.0, source: figure)
    case ("compas", .kernelshap): return PaperScaffoldNumbers(biasedSensitiveFirst: 1.0, scaffoldSensitiveFirst: 0.10, scaffoldInnocuousFirst: 0.85, source: figure)
    case ("german", .lime): return PaperScaffoldNumbers(biasedSensitiveFirst: 1.0, scaffoldSensitiveFirst: 0.0, scaffoldInnocuousFirst: 1.0, source: figure)
    case ("german", .kernelshap): return PaperScaffoldNumbers(biasedSensitiveFirst: 1.0, scaffoldSensitiveFirst: 0.10, scaffoldInnocuousFirst: 0.80, source: figure)
    default: return nil
    }
  }
}
