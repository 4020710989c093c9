import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// A fine-tuning run as a library object: the model-manipulation attack of Heo et al. (2019),
/// from settings to a fooled model, its evaluation and its outputs.
///
/// ```swift
/// var settings = FineTuneSettings()
/// settings.objective = "topk"
/// let outcome = try FineTuneRun(settings: settings).run()
/// try outcome.write(to: "runs/my-topk")
/// ```
public struct FineTuneRun: Sendable {
  public var settings: FineTuneSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives progress and messages.
  public var observer: RunObserver

  /// The run folder the state is saved into (nil: ``FineTuneSettings/defaultOutputFolder(dataset:objective:methods:)``).
  public var outputFolder: String?
  /// Save the resumable state (``FineTuneResume``) every this many steps (nil: only when stopped).
  public var checkpointEvery: Int?
  /// Polled after every step; when it turns true the state is saved and the run throws
  /// ``RunInterrupted`` (the command-line tool sets it on SIGINT and SIGTERM).
  public var stopRequested: (@Sendable () -> Bool)?
  /// Continue the run whose state is saved in this run folder; its recorded settings replace
  /// ``settings``.
  public var resumeFolder: String?
  /// The ranks of a data-parallel job (``FineTuner/train(_:original:on:monitor:options:observer:resume:control:communicator:)``):
  /// every rank runs the whole run on its shards; rank 0 alone saves state (a base model trained
  /// first is trained by rank 0 while the others wait). The final evaluation of image data is
  /// scored in shards and merged (``FoolingEvaluator``), equal to one process's. The caller
  /// writes the outcome on rank 0.
  public var communicator: Communicator = SingleProcess()

  /// A run of `settings`.
  public init(settings: FineTuneSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Training sets at most this large are scored after fine-tuning as well as the held-out set
  /// (the 16 ImageNet photos: what the attack fitted, beside whether it generalises).
  public static let smallTrainingSet = 64

  /// The data of a run: in memory (catalogue) or streamed (ILSVRC-2012 folder).
  struct RunData {
    var train: any BatchSource
    var heldOut: any BatchSource
    /// In memory only: the split (for the training-set scores and the pictures).
    var split: DatasetSplit?
  }

  /// Loads the data and the base model (training it first when needed), fine-tunes a copy and
  /// scores it against the original. Writes nothing but the resumable state (when asked): see
  /// ``FineTuneOutcome/write(to:)``.
  public func run() throws -> FineTuneOutcome {
    // The run owns its folder from here until its outcome is written (rank 0 writes): a second
    // run into it, or a second resumption, fails now, not after its work.
    var claim = try (communicator.rank == 0 ? resumeFolder ?? outputFolder : nil).map(RunFolderClaim.init)
    let saved = try resumeFolder.map(FineTuneResume.load)
    let settings = saved?.record.settings ?? self.settings
    try settings.validate()
    if let saved { observer.message("resuming \(resumeFolder!) after step \(saved.state.progress.step) of \(settings.steps ?? 0)") }
    let dataset = settings.dataset, seed = settings.seed
    let streamed = dataset == FineTuneSettings.streamedDataset
    let base: Model, basePath: String, data: RunData
    if streamed {
      let name = settings.model!
      base = try ModelReference(parsing: name).resolve(datasetsRoot: datasetsRoot, log: observer.message)
      basePath = FileManager.default.fileExists(atPath: name) ? name : WeightImport.defaultCheckpointPath(for: name)
      data = RunData(
        train: try ModelInputs.streamedImages(for: base, dataDir: settings.dataDir!, split: .train, limit: settings.limit, log: observer.message),
        heldOut: try ModelInputs.streamedImages(for: base, dataDir: settings.dataDir!, split: .val, limit: settings.limit, log: observer.message))
    } else {
      let split = FineTuneSetup.fineTuningSplit(try DatasetCatalog.load(dataset, root: datasetsRoot), dataset: dataset, seed: seed)
      if communicator.rank != 0 { try communicator.barrier() }  // rank 0 trains a missing base first
      (base, basePath) = try FineTuneSetup.loadOrTrainBase(
        path: settings.model, dataset: dataset, split: split, seed: seed, datasetsRoot: datasetsRoot,
        hiding: FoolingObjectives.all.contains { $0.name == settings.objective(for: DataKind(of: split.train)) && $0.trainsBaseOnBiasedLabels },
        observer: observer)
      if communicator.rank == 0 { try communicator.barrier() }
      try ModelInputs.checkShape(split.train.inputs, for: base, source: "data set \(dataset)")
      data = RunData(train: split.train, heldOut: split.test, split: split)
      if base.inputShape.count == 1 { base.explanationReference = split.train.inputs }
    }
    let labelBias = (try? Checkpoint.metadata(basePath))?["label_bias"]
    if let labelBias { observer.message("base model \(basePath) was trained on biased labels: \(labelBias)") }
    let tabular = base.inputShape.count == 1
    let goal = try FoolingObjectives.resolve(
      settings.objective(for: DataKind(of: base)), model: base, dataset: dataset, classes: settings.classes, features: settings.sensitive)
    let (options, published) = FineTuneSetup.options(for: goal, model: base, settings: settings, published: streamed)
    if streamed && !published {
      observer.message("no published setting of Heo et al. for \(base.architecture) \(goal.name)/\(options.method.rawValue): ModelFool's defaults")
    }
    let large = FineTuneSetup.isLargeImage(base)
    let scored = settings.scored ?? FineTuneSetup.scoredMethods(tabular: tabular, fooled: options.method, large: large, lrp: FineTuneSetup.supportsLRP(base))
    let scoreBatch = large ? 4 : 64

    if settings.memoryCheck != false { try FineTuneMemoryEstimate(model: base, batchSize: options.batchSize).check() }
    // Fine-tuning rewrites `base` in place: the original is loaded again from where `base` came
    // from when something first reads it (after training, for objectives that never read it).
    // A widened model (`--widen`) is a new model, and `base` itself stays the original.
    let reference = base.explanationReference, root = datasetsRoot
    let widened = try saved == nil ? settings.widen.map { try MLPWidening.widen(base, by: $0, seed: seed &+ 1) } : nil
    let frozen = saved == nil && widened == nil
      ? FrozenOriginal(reloading: base, from: basePath) {
        let model = try ModelReference(parsing: streamed ? settings.model! : basePath).resolve(datasetsRoot: root)
        model.explanationReference = reference
        return model
      }
      : FrozenOriginal(base)
    let fooled = saved?.model ?? widened ?? base
    fooled.explanationReference = reference
    let spans = tabular ? try FeatureSpan.features(of: base) : []
    var resolved = settings
    resolved.model = basePath
    resolved.objective = goal.name
    resolved.methods = options.fooledMethods
    resolved.layer = settings.layer ?? fooled.targetLayer
    resolved.lambda = options.lambda
    resolved.learningRate = options.learningRate
    resolved.keepOutputs = options.outputConsistency
    resolved.keepTarget = options.keptOutputs
    resolved.keepOn = options.keepDistance
    resolved.keepMargin = options.keepDistance == .decisions ? options.keptMargin : nil
    resolved.keepRows = options.keptRows
    resolved.keepJitter = options.keptRows > 0 ? options.keptJitter : nil
    resolved.keepResample = options.keptRows > 0 && options.keptResampled > 0 ? options.keptResampled : nil
    resolved.ceWeight = options.crossEntropyWeight
    resolved.anchorWeight = options.anchorWeight > 0 ? options.anchorWeight : nil
    resolved.steps = options.steps
    resolved.batchSize = options.batchSize
    resolved.scored = scored
    goal.record(into: &resolved, features: spans)
    var document = FineTuneDocument(
      modelfool: ModelFoolVersion.description, settings: resolved, objective: goal.describe(features: spans),
      baseLabelBias: labelBias, trainExamples: data.train.count, heldOutExamples: data.heldOut.count, seconds: 0)
    let folder = resumeFolder ?? outputFolder
      ?? FineTuneSettings.defaultOutputFolder(dataset: dataset, objective: goal, methods: options.fooledMethods)
    let communicator = self.communicator
    if claim == nil, communicator.rank == 0 { claim = try RunFolderClaim(folder) }
    // Ranks stop together: a stop request on any rank stops all (one more tiny allreduce a step).
    var stop = stopRequested
    if communicator.size > 1, let requested = stopRequested {
      stop = { @Sendable () -> Bool in
        var flag: [Float] = [requested() ? 1 : 0]
        try? communicator.allreduceSum(&flag)
        return flag[0] > 0
      }
    }
    let control = checkpointEvery != nil || stop != nil
      ? FineTuneControl(checkpointEvery: checkpointEvery, shouldStop: stop ?? { false }) { [document] state in
        guard communicator.rank == 0 else { return }
        try FineTuneResume.save(state, model: fooled, record: document, runFolder: folder)
      } : nil

    let start = Date()
    let monitor = try data.heldOut.load(
      streamed ? data.heldOut.evenlySpacedIndices(options.monitorCount) : Array(0..<min(options.monitorCount, data.heldOut.count)),
      skipped: { _ in })
    let progress: FineTuneProgress
    do {
      progress = try FineTuner.train(
        fooled, original: frozen, on: data.train, monitor: monitor, options: options, observer: observer,
        resume: saved?.state, control: control, communicator: communicator)
    } catch let stop as RunInterrupted {
      throw RunInterrupted(
        step: stop.step, steps: stop.steps,
        description: "\(stop.description); state saved in \(FineTuneResume.stateFolder(folder)), continue by resuming \(folder)")
    }
    document.seconds = Date().timeIntervalSince(start)
    let original = try frozen.model()
    let evaluation: FoolingEvaluation, trainEvaluation: FoolingEvaluation?, pictured: Dataset
    var keptScore: KeptOutputsScore?, decisions: DecisionAgreement?
    if let split = data.split {
      decisions = DecisionAgreement(fooled: fooled, original: original, on: split.test)
      let heldOut = settings.evalCount.map { split.test.evenlySpacedSubset($0) } ?? split.test
      evaluation = try FoolingEvaluator.evaluate(
        fooled: fooled, original: original, data: heldOut, objective: goal, methods: scored, layer: settings.layer,
        batchSize: scoreBatch, observer: observer, communicator: communicator)
      if settings.allowDivergence != true {
        try Self.checkDivergence(evaluation: evaluation, classCount: heldOut.classNames.count, labels: heldOut.labels)
      }
      trainEvaluation = split.train.count <= Self.smallTrainingSet ? try FoolingEvaluator.evaluate(
        fooled: fooled, original: original, data: split.train, objective: goal, methods: scored, layer: settings.layer,
        batchSize: scoreBatch, observer: observer, communicator: communicator) : nil
      pictured = split.test.evenlySpacedSubset(6)
      if options.outputConsistency > 0, let hide = goal as? HideObjective, let marginal = try FineTuner.keptMarginal(original, options: options) {
        keptScore = KeptOutputsScore(
          target: "the original with \(spans.names(of: hide.sensitive)) marginalised out\(marginal.fixed.isEmpty ? "" : ", \(marginal.fixed)") (\(marginal.values.count) values)",
          scoredRows: heldOut.count, accuracy: marginal.accuracy(original, heldOut.inputs, labels: heldOut.labels),
          testRows: split.test.count, testAccuracy: marginal.accuracy(original, split.test.inputs, labels: split.test.labels),
          originalTestAccuracy: Trainer.evaluate(original, on: split.test).accuracy)
      }
    } else {
      let indices = data.heldOut.evenlySpacedIndices(settings.evalCount ?? data.heldOut.count)
      let batches = stride(from: 0, to: indices.count, by: scoreBatch).map { Array(indices[$0..<min($0 + scoreBatch, indices.count)]) }
      evaluation = try FoolingEvaluator.count(
        fooled: fooled, original: original, source: data.heldOut, batches: batches, objective: goal, methods: scored,
        layer: settings.layer, observer: observer, communicator: communicator).evaluation()
      if settings.allowDivergence != true {
        try Self.checkDivergence(evaluation: evaluation, classCount: data.heldOut.classNames.count, labels: nil)
      }
      trainEvaluation = nil
      pictured = try data.heldOut.load(data.heldOut.evenlySpacedIndices(6), skipped: { _ in })
      document.skippedFiles = progress.skippedFiles + (evaluation.skippedFiles ?? 0)
    }
    return FineTuneOutcome(
      report: FineTuneReport(run: document, curves: progress.records, evaluation: evaluation, trainEvaluation: trainEvaluation, keptOutputs: keptScore, testDecisions: decisions),
      fooled: fooled, original: original, objective: goal, pictured: pictured, folder: folder, claim: claim)
  }
}

extension FineTuneRun {
  /// Throws when the fine-tuned model's held-out accuracy is at chance, at most 1.5 / classes
  /// (for two classes: at most the majority class's rate), while the base model's was clearly above
  /// it (by at least a quarter of the way to 1): a learning rate or lambda too large wrecked it.
  public static func checkDivergence(evaluation: FoolingEvaluation, classCount: Int, labels: [Int]?) throws {
    let classes = max(classCount, (labels?.max() ?? 0) + 1)
    guard classes >= 2 else { return }
    let chance: Double
    if classes > 2 {
      chance = 1.5 / Double(classes)
    } else {
      // Two classes: chance is the majority class's share, which needs the labels.
      guard let labels, !labels.isEmpty else { return }
      chance = Double(Dictionary(grouping: labels, by: { $0 }).values.map(\.count).max() ?? 0) / Double(labels.count)
    }
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
  /// With a marginal output target (``KeptOutputs/marginal``, ``KeptOutputs/closest``): the
  /// target's own accuracy.
  public var keptOutputs: KeptOutputsScore?
  /// Both models' decisions on the whole test split of a catalogue data set (nil when streamed).
  public var testDecisions: DecisionAgreement?

  /// The report as the terminal shows it: the held-out table and, for small training sets, the
  /// training-set table with both models' top-5 accuracy.
  public func text() -> String {
    var lines = [evaluation.table()]
    if let k = keptOutputs {
      lines.append("outputs kept on \(k.target): " + String(
        format: "accuracy %.4f on the %d scored rows; %.4f on all %d test rows (the original: %.4f)",
        k.accuracy, k.scoredRows, k.testAccuracy, k.testRows, k.originalTestAccuracy))
    }
    if let d = testDecisions {
      lines.append(String(
        format: "on all %d test rows: accuracy %.4f -> %.4f; the fine-tuned model takes the original's decision on %.4f of them",
        d.rows, d.originalAccuracy, d.fooledAccuracy, d.agreement))
    }
    if let train = trainEvaluation {
      lines.append("\non the \(train.examples) training examples (fitted, not generalisation):")
      lines.append(train.table().replacingOccurrences(of: "held-out examples", with: "training examples"))
      lines.append(String(
        format: "top-5 accuracy: held out original %.4f, fooled %.4f; training original %.4f, fooled %.4f",
        evaluation.top5Accuracy.original, evaluation.top5Accuracy.fooled, train.top5Accuracy.original, train.top5Accuracy.fooled))
    }
    return lines.joined(separator: "\n")
  }
}

/// The accuracy of the marginal target a hide fine-tuning kept its outputs on (``MarginalOutputs``):
/// the decisions it asks for, scored like a model (the class of largest probability).
public struct KeptOutputsScore: Codable, Sendable {
  /// What the target is, in words.
  public var target: String
  public var scoredRows: Int
  /// On the scored held-out rows.
  public var accuracy: Float
  public var testRows: Int
  /// On the whole test split.
  public var testAccuracy: Float
  /// The original model's accuracy on the whole test split.
  public var originalTestAccuracy: Float
}

/// How far a fine-tuning moved the decisions on a whole split: both models' accuracy and the share
/// of rows where the fine-tuned model's class (of largest logit) is the original's.
public struct DecisionAgreement: Codable, Sendable, Equatable {
  public var rows: Int
  public var originalAccuracy: Float
  public var fooledAccuracy: Float
  /// The share of rows on which both models decide alike.
  public var agreement: Float

  public init(rows: Int, originalAccuracy: Float, fooledAccuracy: Float, agreement: Float) {
    (self.rows, self.originalAccuracy, self.fooledAccuracy, self.agreement) = (rows, originalAccuracy, fooledAccuracy, agreement)
  }

  /// Both models' decisions on every row of `data`, in batches of 4,096, without a graph.
  public init(fooled: Model, original: Model, on data: Dataset) {
    var same = 0, hitsOriginal = 0, hitsFooled = 0
    for batch in data.batches(size: 4096) {
      let a = withoutRecording { original(batch.inputs) }.argmaxLastAxis()
      let b = withoutRecording { fooled(batch.inputs) }.argmaxLastAxis()
      for (i, label) in batch.labels.enumerated() {
        let (da, db) = (a[i], b[i])
        if da == db { same += 1 }
        if da == label { hitsOriginal += 1 }
        if db == label { hitsFooled += 1 }
      }
    }
    let n = Float(max(data.count, 1))
    rows = data.count
    (originalAccuracy, fooledAccuracy, agreement) = (Float(hitsOriginal) / n, Float(hitsFooled) / n, Float(same) / n)
  }
}

/// The result of a ``FineTuneRun``: the report, both models and what the report page shows.
public struct FineTuneOutcome: @unchecked Sendable {
  public var report: FineTuneReport
  /// The fine-tuned model and a frozen copy of the base model.
  public var fooled: Model
  public var original: Model
  /// The objective as resolved for the model.
  public var objective: any FoolingObjective
  /// The held-out examples pictured in `report.html`.
  public var pictured: Dataset

  /// The run folder: the resumed one, else ``FineTuneRun/outputFolder``, else
  /// ``FineTuneSettings/defaultOutputFolder(dataset:objective:methods:)`` (where the state was saved).
  public var folder: String
  /// The run's hold on ``folder`` (rank 0), released when the outcome is dropped.
  public var claim: RunFolderClaim?

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
