import Foundation
import ModelFool
import ModelFoolData

/// Everything that decides a fooling evaluation (`evaluate --fsr`): which fine-tuned model is
/// scored against which original, on which data, for which objective and methods.
///
/// A nil field is read from the fine-tuned checkpoint's run record (``FineTuneDocument``): the
/// original, the objective, its classes or features, the layer and the data set.
public struct EvaluationSettings: Codable, Sendable, Equatable {
  /// The fine-tuned checkpoint.
  public var model: String
  /// The original checkpoint.
  public var original: String?
  /// The data scored (in-memory: its test split; an ILSVRC-2012 folder is streamed, by default
  /// its `val` split); nil: the data set the fine-tuned checkpoint records (for a model fine-tuned
  /// on `imagenet`, the recorded folder and file limit).
  public var data: DataSource?
  /// The objective's name (``FoolingObjectives``).
  public var objective: String?
  /// Methods scored; nil: every method that applies, the fooled one first.
  public var methods: [ExplanationMethod]?
  /// Success range such as `<=0.2`; nil: the objective's.
  public var success: String?
  public var layer: String?
  public var classes: [Int]?
  public var sensitive: [String]?
  /// Score an evenly spaced subset of this many examples; nil: all.
  public var evalCount: Int?
  /// Streamed data: examples per batch (default 16).
  public var batchSize: Int?
  /// Streamed data: score only shard `i/n` (the `i`-th of `n` runs of whole batches), for
  /// ``FoolingCounts/merge(_:)``.
  public var shard: String?

  /// Scores `model` with everything else read from its record.
  public init(model: String) { self.model = model }
}

/// `evaluate --fsr` as a library object: the FSR of a fine-tuned model and of its original per
/// method, accuracy, map similarity and (tabular) fairness.
public struct EvaluationRun: Sendable {
  public var settings: EvaluationSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives progress and messages.
  public var observer: RunObserver
  /// The ranks of a data-parallel job: image data is scored in contiguous shards of whole
  /// batches, one per rank, and the counts merged (``FoolingCounts/merge(_:)``), which equals one
  /// process's evaluation; tabular data (whose fairness needs every row) is scored whole on every
  /// rank, as are kept maps.
  public var communicator: Communicator = SingleProcess()

  /// A run of `settings`.
  public init(settings: EvaluationSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Loads both models and the data, and scores them; with `keepingMaps`, the outcome also holds
  /// every scored map and both models' logits (``EvaluationOutcome/arrays``).
  public func run(keepingMaps: Bool = false) throws -> EvaluationOutcome {
    if let n = settings.evalCount, n <= 0 {
      throw TrainingError("the number of scored examples must be positive, got \(n)", settings: ["evalCount"])
    }
    let fooled = try ModelReference(parsing: settings.model).resolve(datasetsRoot: datasetsRoot, log: observer.message)
    let record = FileManager.default.fileExists(atPath: settings.model)
      ? try Checkpoint.runRecord(settings.model).map { try FineTuneDocument.decode($0, source: settings.model) } : nil
    let recorded = record?.settings
    guard let originalPath = settings.original ?? recorded?.model else {
      throw TrainingError("\(settings.model) records no original model: name the original checkpoint", settings: ["original"])
    }
    guard let objectiveName = settings.objective ?? recorded?.objective else {
      throw TrainingError("\(settings.model) records no objective: name the objective", settings: ["objective"])
    }
    let original = try ModelReference(parsing: originalPath).resolve(datasetsRoot: datasetsRoot, log: observer.message)
    fooled.setTraining(false)
    original.setTraining(false)
    guard let source = settings.data ?? recorded?.data else {
      throw TrainingError("\(settings.model) records no data set: name the data", settings: ["dataset"])
    }
    if case .ilsvrc = source {
      guard !keepingMaps else { throw TrainingError("maps are kept for in-memory data only", settings: ["saveMaps"]) }
      let goal = try FoolingObjectives.resolve(
        objectiveName, model: original, dataset: FineTuneSettings.streamedDataset, classes: settings.classes ?? recorded?.classes,
        features: settings.sensitive ?? recorded?.sensitive)
      let methods = settings.methods ?? FineTuneSetup.scoredMethods(tabular: false, fooled: recorded?.methods?.first ?? .gradCAM, large: FineTuneSetup.isLargeImage(original), lrp: FineTuneSetup.supportsLRP(original))
      let counts = try streamedCounts(
        fooled: fooled, original: original, files: try source.streamed(for: fooled, log: observer.message)!, goal: goal, methods: methods,
        layer: settings.layer ?? recorded?.layer)
      return EvaluationOutcome(evaluation: counts.evaluation(), arrays: [], counts: counts)
    }
    if settings.shard != nil {
      throw TrainingError("a shard applies to streamed data (an ILSVRC-2012 folder) only", settings: ["shard", "dataDir"])
    }
    let data = try source.evaluationData(for: fooled, datasetsRoot: datasetsRoot, log: observer.message)
    let goal = try FoolingObjectives.resolve(
      objectiveName, model: original, dataset: data.name, classes: settings.classes ?? recorded?.classes,
      features: settings.sensitive ?? recorded?.sensitive)
    let tabular = original.inputShape.count == 1
    let fooledWith = recorded?.methods?.first ?? (tabular ? .simpleGrad : .gradCAM)
    let methods = settings.methods ?? FineTuneSetup.scoredMethods(tabular: tabular, fooled: fooledWith, lrp: FineTuneSetup.supportsLRP(original))
    if tabular { try BlackBoxReference.attach(to: [fooled, original], methods: methods, dataset: data.name, datasetsRoot: datasetsRoot) }
    let range = try settings.success.map(SuccessRange.init(parsing:))
    let subset = settings.evalCount.map { data.evenlySpacedSubset($0) } ?? data
    var kept: [String: [Tensor]] = [:]
    var order: [String] = []
    let evaluation = try FoolingEvaluator.evaluate(
      fooled: fooled, original: original, data: subset, objective: goal, methods: methods, range: range,
      layer: settings.layer ?? recorded?.layer, observer: observer, communicator: communicator,
      maps: keepingMaps ? { method, ho, hf in
        for (name, map) in [("\(method.rawValue)_original", ho), ("\(method.rawValue)_fooled", hf)] {
          if kept[name] == nil { order.append(name) }
          kept[name, default: []].append(map)
        }
      } : nil)
    guard keepingMaps else { return EvaluationOutcome(evaluation: evaluation, arrays: []) }
    var arrays = order.map { NamedArray(name: $0, tensor: Tensor.concatenate(kept[$0]!, alongAxis: 0)) }
    arrays.append(NamedArray(name: "logits_original", tensor: Trainer.logits(original, on: subset)))
    arrays.append(NamedArray(name: "logits_fooled", tensor: Trainer.logits(fooled, on: subset)))
    arrays.append(NamedArray(name: "labels", ints: subset.labels))
    return EvaluationOutcome(evaluation: evaluation, arrays: arrays)
  }
}

extension EvaluationRun {
  /// Parses `i/n` (0 <= i < n).
  public static func parseShard(_ text: String) throws -> (index: Int, count: Int) {
    let parts = text.split(separator: "/").map { Int($0) }
    guard parts.count == 2, let i = parts[0], let n = parts[1], n > 0, i >= 0, i < n else {
      throw TrainingError("a shard is i/n with 0 <= i < n, got '\(text)'", settings: ["shard"])
    }
    return (i, n)
  }

  /// Scores the streamed split (or shard of it): the counts of ``FoolingEvaluator/count(fooled:original:source:batches:objective:methods:range:layer:observer:communicator:maps:)``.
  func streamedCounts(
    fooled: Model, original: Model, files source: ImageFolderSource, goal: any FoolingObjective, methods: [ExplanationMethod],
    layer: String?
  ) throws -> FoolingCounts {
    let batchSize = settings.batchSize ?? 16
    guard batchSize > 0 else { throw TrainingError("the batch size must be positive, got \(batchSize)", settings: ["batchSize"]) }
    let indices = source.evenlySpacedIndices(settings.evalCount ?? source.count)
    var batches = stride(from: 0, to: indices.count, by: batchSize).map { Array(indices[$0..<min($0 + batchSize, indices.count)]) }
    // A data-parallel job without an explicit shard: each rank scores its part, then all merge
    // (an explicit shard is scored whole by every rank).
    let shard = try settings.shard.map(Self.parseShard)
    if let (i, n) = shard { batches = Array(batches[(i * batches.count / n)..<((i + 1) * batches.count / n)]) }
    let range = try settings.success.map(SuccessRange.init(parsing:))
    var counts = try FoolingEvaluator.count(
      fooled: fooled, original: original, source: source, batches: batches, objective: goal, methods: methods, range: range,
      layer: layer, observer: observer, communicator: shard == nil ? communicator : SingleProcess())
    var setup = settings
    setup.shard = nil
    counts.setup = try RunJSON.encode(setup)
    counts.modelDigests = [Checkpoint.digest(of: fooled), Checkpoint.digest(of: original)]
    counts.shard = shard.map { "\($0.index)/\($0.count)" }
    return counts
  }
}

/// The result of an ``EvaluationRun``.
public struct EvaluationOutcome: Sendable {
  public var evaluation: FoolingEvaluation
  /// When kept: per method `METHOD_original` and `METHOD_fooled` (`[N, ...]` min-max normalised
  /// maps, or per-feature relevance for tabular models), `logits_original`, `logits_fooled` and
  /// `labels`, for ``ArrayExport/save(_:to:)``.
  public var arrays: [NamedArray]
  /// Streamed data: the counts the evaluation was computed from (a shard's are merged with
  /// ``FoolingCounts/merge(_:)``).
  public var counts: FoolingCounts?

  public init(evaluation: FoolingEvaluation, arrays: [NamedArray], counts: FoolingCounts? = nil) {
    self.evaluation = evaluation
    self.arrays = arrays
    self.counts = counts
  }

  /// Writes the outputs asked for, all or none: the ``arrays`` to `maps` (``ArrayExport/save(_:to:)``,
  /// itself all or none) and the ``counts`` to `countsPath`, renamed into place only once the
  /// arrays are saved. Returns the files written.
  public func write(maps: String?, counts countsPath: String?) throws -> [String] {
    var written: [String] = []
    let saveMaps = { if let maps { written = try ArrayExport.save(arrays, to: maps) } }
    guard let countsPath, let counts else {
      try saveMaps()
      return written
    }
    try counts.write(to: countsPath, alongside: saveMaps)
    return written + [countsPath]
  }
}
