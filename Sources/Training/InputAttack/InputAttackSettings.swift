import Foundation
import ModelFool

/// Everything that decides an input attack (Dombrowski et al. 2019) and its defence.
///
/// A nil field asks for the default: for ImageNet-size models 2 examples, 150 steps and
/// learning rate 2e-3 (a short run that keeps the change nearly invisible); otherwise 32
/// examples, 500 steps and 5e-2; gamma 1e-2 for images and 1 for tabular rows.
public struct InputAttackSettings: Codable, Sendable, Equatable {
  /// Catalogue data set whose test split supplies the inputs; nil: the one the model's checkpoint
  /// records (``Checkpoint/recordedDataset(_:)``), else `digits`.
  public var dataset: String?
  /// Checkpoint or pretrained name; nil: the data set's base model (for the hide target the one
  /// trained on biased labels), trained first when missing.
  public var model: String?
  /// The explanation attacked (SimpleGrad is Dombrowski et al.'s "gradient").
  public var method: ExplanationMethod = .simpleGrad
  /// Examples attacked, evenly spaced over the test split.
  public var count: Int?
  /// Image target: every input takes this example's map; nil: example `(i + count/2) mod count`.
  public var targetIndex: Int?
  public var steps: Int?
  /// Adam's learning rate on the input (cosine decay).
  public var learningRate: Float?
  /// Weight of keeping the output relative to matching the explanation.
  public var gamma: Float?
  /// Softplus beta grows exponentially from `betaGrowth[0]` to `betaGrowth[1]` during the attack;
  /// nil keeps ReLU. LRP always keeps ReLU (``ExplanationMethod/usesBetaSmoothing``).
  public var betaGrowth: [Float]? = [10, 100]
  /// With beta growth, max-pools become a smooth max of the same beta during the attack.
  public var smoothPooling = true
  /// Perturbation budget and its norm; nil: none.
  public var epsilon: Float?
  public var norm = PerturbationNorm.linf
  /// Defence: explanations are scored with softplus(beta) on the same weights; nil: ReLU.
  public var defenceBeta: Float?
  /// Betas (nil entries: ReLU) against which the attacked inputs are also scored.
  public var sweepBetas: [Float?]?
  public var target = AttackTarget.image
  /// Hide target: the features to hide; nil: the data set's default sensitive features.
  public var sensitive: [String]?
  /// A fine-tuned checkpoint to compare with, same method and target.
  public var versus: String?
  /// Seeds a base model trained first.
  public var seed: UInt64 = 0

  /// The defaults: SimpleGrad towards other digits' maps.
  public init() {}

  /// Checks the values that make no sense whatever the model.
  public func validate() throws {
    if let count, count < (target == .image ? 2 : 1) {
      throw TrainingError(target == .image
        ? "the image target needs at least 2 examples (targets come from the other examples), got \(count)"
        : "at least 1 example must be attacked, got \(count)", settings: ["count"])
    }
    if let steps, steps <= 0 { throw TrainingError("the number of steps must be positive, got \(steps)", settings: ["steps"]) }
    if let learningRate, !(learningRate > 0) || !learningRate.isFinite {
      throw TrainingError("the learning rate must be positive, got \(learningRate)", settings: ["learningRate"])
    }
    if let gamma, !(gamma >= 0) || !gamma.isFinite {
      throw TrainingError("gamma must be a finite number >= 0, got \(gamma)", settings: ["gamma"])
    }
    if let epsilon, !(epsilon > 0) || !epsilon.isFinite {
      throw TrainingError("the perturbation budget must be positive, got \(epsilon)", settings: ["epsilon"])
    }
    if let g = betaGrowth, g.count != 2 || !g.allSatisfy({ $0 > 0 && $0.isFinite }) {
      throw TrainingError("beta growth takes two positive numbers FROM, TO, got \(g)", settings: ["betaGrowth"])
    }
    for beta in [defenceBeta] + (sweepBetas ?? []) {
      if let beta, !(beta > 0) || !beta.isFinite {
        throw TrainingError("a softplus beta must be a positive number (or ReLU), got \(beta)", settings: ["defenceBeta", "sweepBetas"])
      }
    }
  }

  /// The run folder used when the caller names none: `runs/attack-input/DATASET-METHOD`.
  public var defaultOutputFolder: String { "runs/attack-input/\(resolvedDataset)-\(method.rawValue)" }

  /// ``dataset``, else the data set the model's checkpoint records, else `digits`.
  public var resolvedDataset: String { dataset ?? model.flatMap(Checkpoint.recordedDataset) ?? "digits" }
}
