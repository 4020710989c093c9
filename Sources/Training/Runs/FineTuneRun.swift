import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// A fine-tuning run as a library object: the model-manipulation attack of Heo et al. (2019),
/// from settings to a fooled model, its evaluation and its outputs.
///
/// ```swift
/// var settings = FineTuneSettings()
/// settings.objective = .topk
/// let outcome = try FineTuneRun(settings: settings).run()
/// try outcome.write(to: "runs/my-topk")
/// ```
public struct FineTuneRun: Sendable {
  public var settings: FineTuneSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives progress and messages.
  public var observer: RunObserver

  /// A run of `settings`.
  public init(settings: FineTuneSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Training sets at most this large are scored after fine-tuning as well as the held-out set
  /// (the 16 ImageNet photos: what the attack fitted, beside whether it generalises).
  public static let smallTrainingSet = 64

  /// Loads the data and the base model (training it first when needed), fine-tunes a copy and
  /// scores it against the original. Writes nothing: see ``FineTuneOutcome/write(to:)``.
  public func run() throws -> FineTuneOutcome {
    try settings.validate()
    let dataset = settings.dataset, seed = settings.seed
    let split = FineTuneSetup.fineTuningSplit(try DatasetCatalog.load(dataset, root: datasetsRoot), dataset: dataset, seed: seed)
    let (base, basePath) = try FineTuneSetup.loadOrTrainBase(
      path: settings.model, dataset: dataset, split: split, seed: seed, datasetsRoot: datasetsRoot,
      hiding: settings.objective == .hide, observer: observer)
    let labelBias = (try? Checkpoint.metadata(basePath))?["label_bias"]
    if let labelBias { observer.message("base model \(basePath) was trained on biased labels: \(labelBias)") }
    let tabular = base.inputShape.count == 1
    let goal = try FineTuneSetup.objective(
      settings.objective, model: base, dataset: dataset, classes: settings.classes, features: settings.sensitive)
    var options = FineTuneSetup.defaults(for: goal, model: base)
    if let methods = settings.methods {
      options.method = methods[0]
      options.alsoFooled = Array(methods.dropFirst())
    }
    options.layer = settings.layer
    if let v = settings.lambda { options.lambda = v }
    if let v = settings.learningRate { options.learningRate = v }
    if let v = settings.keepOutputs { options.outputConsistency = v }
    if let v = settings.steps { options.steps = v }
    if let v = settings.batchSize { options.batchSize = v }
    options.seed = seed
    let large = FineTuneSetup.isLargeImage(base)
    let scored = settings.scored ?? FineTuneSetup.scoredMethods(tabular: tabular, fooled: options.method, large: large)
    let scoreBatch = large ? 4 : 64

    let original = base.deepCopy()
    let fooled = base
    let start = Date()
    let curves = try FineTuner.run(fooled, original: original, train: split.train, heldOut: split.test, options: options, observer: observer)
    let seconds = Date().timeIntervalSince(start)
    let heldOut = settings.evalCount.map { split.test.evenlySpacedSubset($0) } ?? split.test
    let evaluation = try FoolingEvaluator.evaluate(
      fooled: fooled, original: original, data: heldOut, objective: goal, methods: scored, layer: settings.layer,
      batchSize: scoreBatch, observer: observer)
    if settings.allowDivergence != true { try Self.checkDivergence(evaluation: evaluation, heldOut: heldOut) }
    let trainEvaluation = split.train.count <= Self.smallTrainingSet ? try FoolingEvaluator.evaluate(
      fooled: fooled, original: original, data: split.train, objective: goal, methods: scored, layer: settings.layer,
      batchSize: scoreBatch, observer: observer) : nil

    let spans = tabular ? try FeatureSpan.features(of: base) : []
    var resolved = settings
    resolved.model = basePath
    resolved.methods = options.fooledMethods
    resolved.layer = settings.layer ?? fooled.targetLayer
    resolved.lambda = options.lambda
    resolved.learningRate = options.learningRate
    resolved.keepOutputs = options.outputConsistency
    resolved.steps = options.steps
    resolved.batchSize = options.batchSize
    resolved.scored = scored
    switch goal {
    case .active(let c1, let c2): resolved.classes = [c1, c2]
    case .hide(let groups), .featureLocation(let groups): resolved.sensitive = groups.map { spans[$0].name }
    default: break
    }
    let document = FineTuneDocument(
      modelfool: ModelFoolVersion.description, settings: resolved, objective: goal.describe(features: spans),
      baseLabelBias: labelBias, trainExamples: split.train.count, heldOutExamples: split.test.count, seconds: seconds)
    return FineTuneOutcome(
      report: FineTuneReport(run: document, curves: curves, evaluation: evaluation, trainEvaluation: trainEvaluation),
      fooled: fooled, original: original, objective: goal, pictured: split.test.evenlySpacedSubset(6))
  }
}

extension FineTuneRun {
  /// Throws when the fine-tuned model's held-out accuracy is at chance, at most 1.5 / classes
  /// (for two classes: at most the majority class's rate), while the base model's was clearly above
  /// it (by at least a quarter of the way to 1): a learning rate or lambda too large wrecked it.
  public static func checkDivergence(evaluation: FoolingEvaluation, heldOut: Dataset) throws {
    let classes = max(heldOut.classNames.count, (heldOut.labels.max() ?? 0) + 1)
    guard classes >= 2, !heldOut.labels.isEmpty else { return }
    let majority = Double(Dictionary(grouping: heldOut.labels, by: { $0 }).values.map(\.count).max() ?? 0) / Double(heldOut.labels.count)
    let chance = classes == 2 ? majority : 1.5 / Double(classes)
    let (before, after) = (Double(evaluation.accuracy.original), Double(evaluation.accuracy.fooled))
    guard after <= chance, before >= chance + (1 - chance) / 4 else { return }
    throw TrainingError(
      String(format: "the fine-tuning diverged: held-out accuracy fell to %.4f, at chance for %d classes (%@ %.4f), from %.4f for the base model; nothing was written: lower the learning rate or lambda, or allow divergence to keep it",
             after, classes, classes == 2 ? "the majority class's share" : "1.5/classes =", chance, before),
      settings: ["learningRate", "lambda", "allowDivergence"])
  }
}

/// What `report.json` of a fine-tuning holds.
public struct FineTuneReport: Codable, Sendable {
  /// The run's record (settings, version, facts), as the checkpoint stores it.
  public var run: FineTuneDocument
  public var curves: [FineTuneRecord]
  /// Scores on the held-out examples.
  public var evaluation: FoolingEvaluation
  /// The same scores on the training set, for small ones (nil otherwise).
  public var trainEvaluation: FoolingEvaluation?
}

/// The result of a ``FineTuneRun``: the report, both models and what the report page shows.
public struct FineTuneOutcome: @unchecked Sendable {
  public var report: FineTuneReport
  /// The fine-tuned model and a frozen copy of the base model.
  public var fooled: Model
  public var original: Model
  /// The objective as resolved for the model.
  public var objective: FoolingObjective
  /// The held-out examples pictured in `report.html`.
  public var pictured: Dataset

  /// The folder used when none is given (``FineTuneSettings/defaultOutputFolder(dataset:objective:methods:)``).
  public var defaultFolder: String {
    FineTuneSettings.defaultOutputFolder(
      dataset: report.run.settings.dataset, objective: objective, methods: report.run.settings.methods ?? [])
  }

  /// Writes `model.h5` (with the run's record), `report.json` and `report.html` with its
  /// pictures into `folder`, all together or none (``RunOutputs``).
  public func write(to folder: String) throws {
    let record = try RunJSON.encode(report.run)
    let json = try RunJSON.encode(report)
    let settings = report.run.settings
    try RunOutputs.write(into: folder) { staging in
      try Checkpoint.save(fooled, to: staging + "/model.h5", run: record)
      try RunOutputs.writeText(json + "\n", to: staging + "/report.json")
      try FineTuneReportPage.write(
        folder: staging, fooled: fooled, original: original, examples: pictured, objective: objective,
        methods: settings.scored ?? [], layer: settings.layer, curves: report.curves, evaluation: report.evaluation,
        settings: try report.run.displayRows(), trainEvaluation: report.trainEvaluation)
    }
  }
}
