import Foundation
import ModelFool
import ModelFoolData

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
  /// With `--target topk|center-mass|random-sign`: how far the maps moved (Ghorbani et al.).
  public var fragility: FragilityScore? = nil
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
    if let f = fragility {
      lines.append(String(format: "away from the clean maps: top-%d intersection %.3f, Spearman %.3f", f.k, f.topKIntersection, f.spearman)
        + (f.centerShiftPixels.map { String(format: ", centre of mass moved %.1f pixels", $0) } ?? ""))
    }
    if let betaSweep {
      lines.append("beta-smoothed explanations (same adversarial inputs): " + betaSweep.sorted { $0.key < $1.key }.map { String(format: "beta=%@ PCC %.3f", $0.key as NSString, $0.value) }.joined(separator: ", "))
    }
    return lines.joined(separator: "\n")
  }
}
