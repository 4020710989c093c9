import Foundation
import ModelFool

/// Everything that decides a fine-tuning run (the model-manipulation attack of Heo et al. 2019).
///
/// A nil field asks for the default of the objective, model and data set
/// (``FineTuneSetup/options(for:model:settings:published:)``). The settings a run actually used, every default
/// filled in, are stored with its checkpoint and report (``FineTuneDocument``), from where
/// `evaluate --fsr` reads them back.
public struct FineTuneSettings: Codable, Sendable, Equatable {
  /// Catalogue data set.
  public var dataset = "digits"
  /// Base checkpoint or pretrained model name; nil: the data set's cached base model (trained
  /// first when missing; for tabular hiding the one trained on biased labels).
  public var model: String?
  /// The objective's name (``FoolingObjectives``): images take location, topk, center-mass and
  /// active; tabular models hide, location and topk. Nil: location for image models, hide for
  /// tabular ones.
  public var objective: String?
  /// Methods fooled together (their mean fooling loss); the first names the run.
  public var methods: [ExplanationMethod]?
  /// Target layer of Grad-CAM and the `_T` methods; nil: the model's.
  public var layer: String?
  /// Weight of the fooling loss.
  public var lambda: Float?
  /// Adam's learning rate (cosine decay to 5%).
  public var learningRate: Float?
  /// Weight of keeping the outputs on the original model's.
  public var keepOutputs: Float?
  /// What the outputs are kept on (``KeptOutputs``); nil: the original outputs.
  public var keepTarget: KeptOutputs?
  /// How the output-keeping term measures the distance (``KeepDistance``); nil: probabilities.
  public var keepOn: KeepDistance?
  /// With `keepOn` decisions: the logit margin each kept decision must hold; nil: 1.
  public var keepMargin: Float?
  /// Training rows added to every step's output-keeping term (``FineTuneOptions/keptRows``); nil: 0.
  public var keepRows: Int?
  /// With `keepRows`: the noise added to their numeric columns every step (``FineTuneOptions/keptJitter``); nil: 0.
  public var keepJitter: Float?
  /// With `keepRows`: categorical features of each of them resampled from other training rows every step (``FineTuneOptions/keptResampled``); nil: 0.
  public var keepResample: Int?
  /// Tabular MLP: hidden units added to every hidden layer before fine-tuning, the model's
  /// function unchanged (``MLPWidening``); nil: none.
  public var widen: Int?
  /// Weight of the cross-entropy on the training labels (``FineTuneOptions/crossEntropyWeight``); nil: 1.
  public var ceWeight: Float?
  /// Weight of the pull toward the original weights (``FineTuneOptions/anchorWeight``); nil: 0.
  public var anchorWeight: Float?
  public var steps: Int?
  public var batchSize: Int?
  /// The two classes of the active objective.
  public var classes: [Int]?
  /// Tabular hide: the features to hide; tabular location: the features to move relevance onto.
  public var sensitive: [String]?
  /// Methods scored after fine-tuning; nil: every method that applies, the fooled one first.
  public var scored: [ExplanationMethod]?
  /// Held-out examples scored at the end (an evenly spaced subset); nil: the whole test split.
  public var evalCount: Int?
  /// Seeds the split of the ImageNet sample, the batches and a base model trained first.
  public var seed: UInt64 = 0
  /// Dataset `imagenet`: the ILSVRC-2012 folder (``ILSVRCFolder``), streamed: `train/` is
  /// fine-tuned on, `val/` scored.
  public var dataDir: String?
  /// Dataset `imagenet`: at most this many files per split, spread evenly over it.
  public var limit: Int?
  /// Keep a fine-tuning whose held-out accuracy fell to chance from a base model clearly above it
  /// (``FineTuneRun/checkDivergence(evaluation:heldOut:)``); nil or false: such a run throws and
  /// writes nothing.
  public var allowDivergence: Bool?
  /// Check the estimated peak memory of the fine-tuning against the available memory before the
  /// first step (``FineTuneMemoryEstimate``); nil or true: check, false: skip the check.
  public var memoryCheck: Bool?

  /// The defaults: Grad-CAM location on the digits CNN.
  public init() {}

  /// ``objective``, else the default for data of `kind`: location for images, hide for tables.
  public func objective(for kind: DataKind) -> String { objective ?? (kind == .tabular ? "hide" : "location") }

  /// The data set name of a streamed ILSVRC-2012 folder (``dataDir``).
  public static let streamedDataset = "imagenet"

  /// The data fine-tuned on as a ``DataSource``: the catalogue data set, or for `imagenet` the
  /// streamed ILSVRC-2012 folder (``dataDir``, ``limit``).
  public var data: DataSource {
    dataset == Self.streamedDataset ? .ilsvrc(folder: dataDir ?? "", split: nil, limit: limit) : .dataset(dataset)
  }

  /// Fine-tunes on `source`: a catalogue data set, a CSV table (registered in the catalogue under
  /// its schema's name) or an ILSVRC-2012 folder (its `train/` fine-tuned on, `val/` scored).
  public mutating func use(_ source: DataSource) throws {
    try source.check(accepted: [.dataset, .table, .ilsvrc], by: "fine-tuning")
    if case .ilsvrc(let folder, let split, let files) = source {
      if split != nil { throw TrainingError("fine-tuning uses both splits of an ILSVRC-2012 folder: no split to choose", settings: ["split"]) }
      (dataset, dataDir, limit) = (Self.streamedDataset, folder, files)
    } else {
      (dataset, dataDir, limit) = (try source.catalogueName()!, nil, nil)
    }
  }

  /// Checks the values that make no sense whatever the model.
  public func validate() throws {
    func positive<T: Comparable & Numeric>(_ value: T?, _ name: String, _ what: String) throws {
      if let value, !(value > 0) { throw TrainingError("\(what) must be positive, got \(value)", settings: [name]) }
    }
    try positive(steps, "steps", "the number of steps")
    try positive(batchSize, "batchSize", "the batch size")
    try positive(learningRate, "learningRate", "the learning rate")
    try positive(evalCount, "evalCount", "the number of scored examples")
    func nonNegative(_ value: Float?, _ name: String, _ what: String) throws {
      if let value, !(value >= 0) || !value.isFinite {
        throw TrainingError("\(what) must be a finite number >= 0, got \(value)", settings: [name])
      }
    }
    try nonNegative(lambda, "lambda", "lambda")
    try nonNegative(keepOutputs, "keepOutputs", "the output-keeping weight")
    try nonNegative(ceWeight, "ceWeight", "the cross-entropy's weight")
    try nonNegative(anchorWeight, "anchorWeight", "the weight of the pull toward the original weights")
    if let anchorWeight, anchorWeight > 0, (widen ?? 0) > 0 {
      throw TrainingError("the pull toward the original weights needs the original's parameter shapes: it does not apply to a widened model", settings: ["anchorWeight", "widen"])
    }
    try nonNegative(keepMargin, "keepMargin", "the kept decisions' margin")
    try positive(limit, "limit", "the number of files per split")
    try positive(widen, "widen", "the number of units added by widening")
    if let keepRows, keepRows < 0 { throw TrainingError("the number of further kept rows must be >= 0, got \(keepRows)", settings: ["keepRows"]) }
    try nonNegative(keepJitter, "keepJitter", "the kept rows' jitter")
    if let keepJitter, keepJitter > 0, (keepRows ?? 0) == 0 {
      throw TrainingError("the kept rows' jitter applies to the further kept rows: give their number", settings: ["keepJitter", "keepRows"])
    }
    if let keepResample, keepResample < 0 {
      throw TrainingError("the number of resampled features of the kept rows must be >= 0, got \(keepResample)", settings: ["keepResample"])
    }
    if let keepResample, keepResample > 0, (keepRows ?? 0) == 0 {
      throw TrainingError("resampling features of the kept rows applies to the further kept rows: give their number", settings: ["keepResample", "keepRows"])
    }
    if dataset == Self.streamedDataset, dataDir == nil {
      throw TrainingError("the imagenet data set streams from an ILSVRC-2012 folder: name it", settings: ["dataDir"])
    }
    if dataset != Self.streamedDataset, dataDir != nil {
      throw TrainingError("an ILSVRC-2012 folder applies to the imagenet data set only, not to the catalogue's \(dataset)", settings: ["dataDir", "dataset"])
    }
    if dataset == Self.streamedDataset, model == nil {
      throw TrainingError("fine-tuning on imagenet needs the pretrained model to start from", settings: ["model"])
    }
    if let methods, methods.isEmpty { throw TrainingError("at least one method must be fooled", settings: ["methods"]) }
    if let scored, scored.isEmpty { throw TrainingError("at least one method must be scored", settings: ["scored"]) }
  }

  /// The run folder used when the caller names none: `runs/finetune/DATASET-OBJECTIVE-METHOD[+METHOD...]`
  /// (with the resolved objective name and methods).
  public static func defaultOutputFolder(dataset: String, objective: any FoolingObjective, methods: [ExplanationMethod]) -> String {
    "runs/finetune/\(dataset)-\(objective.name)-\(methods.map(\.rawValue).joined(separator: "+"))"
  }
}

/// What a fine-tuning checkpoint records about how it was made, and what `report.json` opens with:
/// the settings with every default resolved, the software version and the facts of the run.
public struct FineTuneDocument: Codable, Sendable, Equatable {
  /// The document kind.
  public static let kind = "modelfool-finetune"
  /// The layout version of this document; readers refuse newer ones.
  public static let currentVersion = 1

  public var format = FineTuneDocument.kind
  public var formatVersion = FineTuneDocument.currentVersion
  /// The ModelFool release that ran it.
  public var modelfool: String
  /// The settings, every default resolved (`model` is the base checkpoint's path).
  public var settings: FineTuneSettings
  /// The objective as resolved for the model, e.g. `hide(race,age)`.
  public var objective: String
  /// How the base model's training labels were biased, nil for recorded labels.
  public var baseLabelBias: String?
  public var trainExamples: Int
  public var heldOutExamples: Int
  /// Wall time of the fine-tuning loop.
  public var seconds: Double
  /// Streamed data: files that could not be read and were left out (training and scoring).
  public var skippedFiles: Int?

  /// A record of a run with `settings` (every default resolved) made by the release `modelfool`.
  public init(
    modelfool: String, settings: FineTuneSettings, objective: String, baseLabelBias: String?, trainExamples: Int,
    heldOutExamples: Int, seconds: Double
  ) {
    self.modelfool = modelfool
    self.settings = settings
    self.objective = objective
    self.baseLabelBias = baseLabelBias
    self.trainExamples = trainExamples
    self.heldOutExamples = heldOutExamples
    self.seconds = seconds
  }

  /// The settings and facts as one flat table (JSON values written out), for report pages.
  public func displayRows() throws -> [String: String] {
    var rows = try RunJSON.rows(settings)
    for (key, value) in try RunJSON.rows(self) where key != "settings" { rows[key] = value }
    return rows
  }

  /// Decodes a document and checks its kind and version.
  public static func decode(_ text: String, source: String) throws -> FineTuneDocument {
    let document = try RunJSON.decode(FineTuneDocument.self, from: text, what: source)
    guard document.format == kind else {
      throw TrainingError("\(source) records a '\(document.format)' run, not a fine-tuning")
    }
    guard document.formatVersion <= currentVersion else {
      throw TrainingError("\(source) was written by a newer ModelFool (record version \(document.formatVersion), this one reads up to \(currentVersion))")
    }
    return document
  }
}
