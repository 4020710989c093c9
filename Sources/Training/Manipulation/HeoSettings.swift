import Foundation
import ModelFool

/// The fine-tuning settings Heo et al. (2019) used on ImageNet, per network, objective and
/// fooled method, read from the shell scripts of the authors' code
/// (github.com/rmrisforbidden/Fooling_Neural_Network-Interpretations, `run_lrp/passive_fooling.sh`
/// and `run_lrp/active_fooling.sh`; docs/METHODS.md "ImageNet settings"): Adam at a constant
/// learning rate, no weight decay, the network in eval mode; passive foolings with batches of 8
/// for `num_eval x eval_period` = 30 x 10,000 steps, active fooling with batches of 4 for
/// 4 x 1,000 steps between classes 386 and 555.
public enum HeoSettings {
  /// One published setting.
  public struct Entry: Sendable, Equatable {
    public var learningRate: Float
    public var lambda: Float
    public var batchSize: Int
    public var steps: Int
  }

  /// Steps of the passive runs (`--num_eval 30 --eval-period 10000`).
  public static let passiveSteps = 300_000
  /// Steps of the active runs (`--num_eval 4 --eval-period 1000`).
  public static let activeSteps = 4_000
  /// The classes of the active runs (`--class_c1 386 --class_c2 555`: African elephant, fire engine).
  public static let activeClasses = [386, 555]

  /// (learning rate, lambda) of the passive runs, by architecture, objective and method.
  static let passive: [String: [String: [ExplanationMethod: (Float, Float)]]] = [
    "vgg19": [
      "location": [.lrpTarget: (1e-6, 1), .gradCAM: (1e-6, 1)],
      "topk": [.lrpTarget: (5e-7, 1), .gradCAM: (3e-7, 0.4)],
      "center-mass": [.lrpTarget: (2e-6, 0.25), .gradCAM: (1e-6, 0.25)],
    ],
    "densenet121": [
      "location": [.lrpTarget: (1e-6, 4), .gradCAM: (2e-6, 2)],
      "topk": [.lrpTarget: (4e-7, 1.5), .gradCAM: (3e-7, 4)],
      "center-mass": [.lrpTarget: (6e-7, 0.5), .gradCAM: (1e-7, 1)],
    ],
    "resnet50": [
      "location": [.lrpTarget: (2e-6, 2), .gradCAM: (2e-6, 2)],
      "topk": [.lrpTarget: (1e-6, 1), .gradCAM: (3e-6, 6)],
      "center-mass": [.lrpTarget: (5e-7, 0.25), .gradCAM: (2e-6, 0.25)],
    ],
  ]

  /// The published setting for fooling `method` with `objective` on `architecture` (a zoo name),
  /// nil where the authors published none (other networks, SimpleGrad_T, tabular objectives).
  public static func entry(architecture: String, objective: String, method: ExplanationMethod) -> Entry? {
    if objective == "active" {
      guard passive[architecture] != nil, method == .lrpTarget || method == .gradCAM else { return nil }
      return Entry(learningRate: 1e-5, lambda: 10, batchSize: 4, steps: activeSteps)
    }
    guard let (rate, lambda) = passive[architecture]?[objective]?[method] else { return nil }
    return Entry(learningRate: rate, lambda: lambda, batchSize: 8, steps: passiveSteps)
  }

  /// `options` with the published setting applied (constant rate, no output keeping, Heo et al.'s
  /// loss without ModelFool's peak-keeping and center-mass cap, monitoring every 10,000 steps on
  /// 64 held-out images), or nil when there is none.
  public static func options(
    _ options: FineTuneOptions, architecture: String, objective: String
  ) -> FineTuneOptions? {
    guard let e = entry(architecture: architecture, objective: objective, method: options.method) else { return nil }
    var o = options
    o.learningRate = e.learningRate
    o.lambda = e.lambda
    o.batchSize = e.batchSize
    o.steps = e.steps
    o.schedule = .constant
    o.outputConsistency = 0
    o.topKPeakWeight = 0
    o.topKPositiveShareWeight = 0
    o.centerMassCap = nil
    o.evaluateEvery = 10_000
    o.monitorCount = 64
    return o
  }
}
