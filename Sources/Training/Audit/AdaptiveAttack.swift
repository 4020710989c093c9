import Foundation
import ModelFool
import ModelFoolData

/// Settings of an adaptive attacker against the manipulation audit (`modelfool audit adaptive`):
/// the fine-tuning of Heo et al. with the audit's statistics added to its loss.
public struct AdaptiveAttackSettings: Codable, Sendable, Equatable {
  /// The clean checkpoint fine-tuned (images).
  public var model: String
  public var dataset = "digits"
  /// The objective's name (``FoolingObjectives``; image objectives).
  public var objective = "location"
  public var method: ExplanationMethod = .gradCAM
  /// The second method whose agreement with `method` is kept (nil: none); it must give maps of
  /// the same size (gradcam: simplegrad_t or lrp_t).
  public var partner: ExplanationMethod? = .lrpTarget
  /// Weight of the evasion terms.
  public var evasion: Float = 10
  public var lambda: Float?
  public var learningRate: Float?
  public var steps: Int?
  public var seed: UInt64 = 0

  public init(model: String) { self.model = model }
}

/// An attacker who knows the detector (docs/METHODS.md §11.4): a fine-tuning (``FineTuner``, the
/// same loop, options and defaults as `finetune`) whose every step minimises
///
///     CE + lambda * L_F + evasion * ((S(h) - S(h0))^2 + (A(h, g) - A(h0, g0))^2)
///
/// where `h` are the fooled method's heatmaps of the batch, `g` the partner method's, `h0`, `g0`
/// the original model's (constants), `S` the mean off-diagonal Pearson correlation of the batch's
/// maps (the `sameness` statistic) and `A` the mean per-example Pearson correlation of two
/// methods' maps (a differentiable stand-in for the Spearman of `disagreement`). The attacker
/// keeps its maps as input-dependent, and as much in agreement with the partner method, as the
/// original's, while fooling.
public enum AdaptiveAttack {
  /// Mean Pearson correlation over the pairs of different rows of `h` (`[N, ...]`), differentiable.
  public static func batchSameness(_ h: Tensor) -> Tensor {
    let n = h.shape[0]
    let z = standardisedRows(h)
    let gram = Tensor.matmul(z, z, transposeB: true)
    return (gram.sum() - Float(n)) / Float(max(n * (n - 1), 1))
  }

  /// Mean per-row Pearson correlation of `a` and `b` (same shape `[N, ...]`), differentiable.
  public static func rowAgreement(_ a: Tensor, _ b: Tensor) -> Tensor {
    (standardisedRows(a) * standardisedRows(b)).sum() / Float(max(a.shape[0], 1))
  }

  /// Each row of `h` flattened, centred and scaled to unit length.
  static func standardisedRows(_ h: Tensor) -> Tensor {
    let x = h.reshaped([h.shape[0], -1])
    let centred = x - x.mean(alongAxes: [1], keepingDimensions: true)
    return centred / (centred.squared().sum(alongAxes: [1], keepingDimensions: true) + 1e-12).sqrt()
  }

  /// Fine-tunes a copy of the clean model; returns it with its metadata (``Checkpoint/save(_:to:metadata:)``).
  public static func run(_ settings: AdaptiveAttackSettings, datasetsRoot: String, observer: RunObserver = .silent) throws -> (Model, [String: String]) {
    guard FileManager.default.fileExists(atPath: settings.model) else { throw TrainingError("no checkpoint at \(settings.model)", settings: ["model"]) }
    let base = try Checkpoint.load(settings.model, log: observer.message)
    let split = try DatasetCatalog.load(settings.dataset, root: datasetsRoot)
    guard base.inputShape.count == 3, split.train.exampleShape == base.inputShape else {
      throw TrainingError("the adaptive attack fine-tunes image models on their data set", settings: ["model", "dataset"])
    }
    let goal = try FoolingObjectives.resolve(settings.objective, model: base, dataset: settings.dataset)
    var requested = FineTuneSettings()
    requested.methods = [settings.method]
    requested.lambda = settings.lambda
    requested.learningRate = settings.learningRate
    requested.steps = settings.steps
    requested.seed = settings.seed
    var options = FineTuneSetup.options(for: goal, model: base, settings: requested).options
    // The evasion terms ride on the fine-tuning loop as a further loss term.
    let (method, partner, weight) = (settings.method, settings.partner, settings.evasion)
    options.extraLoss = { model, original, x, y in
      var explaining = ExplanationOptions()
      explaining.createGraph = true
      var constant = explaining
      constant.createGraph = false
      let h = try explain(model, x, labels: y, method: method, options: explaining)
      let h0 = try explain(original, x, labels: y, method: method, options: constant).detached()
      var evasion = (batchSameness(h) - batchSameness(h0).scalar).squared()
      if let partner {
        let g = try explain(model, x, labels: y, method: partner, options: explaining)
        let g0 = try explain(original, x, labels: y, method: partner, options: constant).detached()
        evasion = evasion + (rowAgreement(h, g) - rowAgreement(h0, g0).scalar).squared()
      }
      return weight * evasion
    }
    let model = base, original = base.deepCopy()
    try FineTuner.run(model, original: original, train: split.train, heldOut: split.test, options: options, observer: observer)
    let metadata = [
      "dataset": settings.dataset, "adaptive_attack": try RunJSON.encode(settings),
      "test_accuracy": String(format: "%.4f", Trainer.evaluate(model, on: split.test).accuracy),
    ]
    return (model, metadata)
  }
}
