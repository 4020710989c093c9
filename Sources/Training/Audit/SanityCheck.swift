import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// Everything that decides a sanity check (`modelfool audit sanity`).
public struct SanitySettings: Codable, Sendable, Equatable {
  /// The checkpoint checked.
  public var model: String
  /// The data whose test examples are explained (a catalogue data set or table, an image folder
  /// or an HDF5 file; ``DataSource/evaluationData(for:datasetsRoot:)``); nil: the data set the
  /// checkpoint records.
  public var data: DataSource?
  /// Methods checked; nil: every method that applies (images: gradcam, lrp_t, simplegrad_t,
  /// simplegrad, gradxinput, lrp; tabular: simplegrad, gradxinput, lrp, ig).
  public var methods: [ExplanationMethod]?
  /// Evenly spaced test examples explained.
  public var count = 32
  /// Seeds the random weights.
  public var seed: UInt64 = 0
  /// A model of the same architecture trained on permuted labels (`train --shuffle-labels`): the
  /// data-randomisation test; nil: skipped.
  public var shuffledModel: String?
  /// Share of positions in the top-k overlap.
  public var topKFraction: Float = 0.1

  /// A check of `model` with the defaults.
  public init(model: String) { self.model = model }

  /// The default methods for an image (`spatial`) or tabular model.
  public static func defaultMethods(spatial: Bool) -> [ExplanationMethod] {
    spatial ? [.gradCAM, .lrpTarget, .simpleGradTarget, .simpleGrad, .gradTimesInput, .lrp]
      : [.simpleGrad, .gradTimesInput, .lrp, .integratedGradients]
  }
}

/// The similarities after one randomisation: to the original model's maps, per method.
public struct RandomisationStep: Codable, Sendable, Equatable {
  /// The layer randomised (cascading: the lowest one randomised so far); `none` for the
  /// original model itself, `labels` for the data-randomisation model.
  public var layer: String
  /// Method name -> similarity to the original model's maps.
  public var similarity: [String: MapSimilarity]
}

/// What `report.json` of a sanity check holds.
public struct SanityReport: Codable, Sendable {
  public var modelfool: String
  /// The settings, the data set and methods resolved.
  public var settings: SanitySettings
  public var architecture: String
  public var examples: Int
  /// The layers with weights, top (output) first: the order of the cascade.
  public var layers: [String]
  /// Cascading randomisation: step i has the top i layers randomised (step 0: none).
  public var cascading: [RandomisationStep]
  /// Independent randomisation: one layer at a time (step 0: none).
  public var independent: [RandomisationStep]
  /// The model trained on permuted labels against the original (nil without one).
  public var dataRandomisation: RandomisationStep?
  /// Test accuracy of the original and of the permuted-label model on the examples.
  public var accuracy: Float
  public var shuffledAccuracy: Float?

  /// A text table: per method, Spearman of |map| along the cascade and for the permuted labels.
  public func table() -> String {
    let methods = settings.methods?.map(\.rawValue) ?? []
    var lines = ["cascading randomisation, Spearman rank correlation of |map| with the original's (\(examples) examples):"]
    let header = ["method"] + cascading.map(\.layer) + (dataRandomisation == nil ? [] : ["labels"])
    let rows = methods.map { m in
      [m] + cascading.map { String(format: "%.3f", $0.similarity[m]?.spearmanAbs ?? .nan) }
        + (dataRandomisation.map { [String(format: "%.3f", $0.similarity[m]?.spearmanAbs ?? .nan)] } ?? [])
    }
    lines.append(TextTable(header: header, rows: rows).render())
    lines.append(String(format: "accuracy on the examples: original %.3f", accuracy)
      + (shuffledAccuracy.map { String(format: ", permuted-label model %.3f", $0) } ?? ""))
    return lines.joined(separator: "\n")
  }
}

/// The model-parameter and data randomisation tests of Adebayo et al. (2018), "Sanity checks for
/// saliency maps" (docs/METHODS.md §11.1).
///
/// A method whose maps stay similar when the weights they should explain are replaced by random
/// ones explains the input (an edge detector), not the model. Layers with weights are randomised
/// from the top (the classifier) down: cumulatively (cascading) and one at a time (independent).
public struct SanityCheck: Sendable {
  public var settings: SanitySettings
  public var datasetsRoot: String
  public var observer: RunObserver

  public init(settings: SanitySettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// The layers holding trainable weights, top (last applied) first: `classifier`,
  /// `features.6`, ... for the digits CNN.
  public static func parameterLayers(_ model: Model) -> [String] {
    var layers: [String] = []
    for (name, p) in model.namedParameters() where p.isTrainable {
      let layer = name.split(separator: ".").dropLast().joined(separator: ".")
      if layers.last != layer { layers.append(layer) }
    }
    return layers.reversed()
  }

  /// Replaces every trainable tensor of `layers` with Gaussian values of mean 0 and the standard
  /// deviation of the tensor it replaces (the scale of the trained weights, none of their structure).
  public static func randomise(_ model: Model, layers: [String], seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    for (name, p) in model.namedParameters() where p.isTrainable {
      let layer = name.split(separator: ".").dropLast().joined(separator: ".")
      guard layers.contains(layer) else { continue }
      p.value = Tensor.randomNormal(p.shape, mean: 0, standardDeviation: AuditStatistics.spread(p.value.scalars), using: &generator)
    }
  }

  /// Loads a checkpoint and the evenly spaced test examples it is checked on: those of `data`,
  /// else of the data set the checkpoint records. Returns the data source used (a table as the
  /// catalogue name it is registered under).
  static func load(
    _ path: String, data: DataSource?, count: Int, datasetsRoot: String, observer: RunObserver
  ) throws -> (Model, Dataset, DataSource) {
    guard count > 1 else { throw TrainingError("at least 2 examples are needed, got \(count)", settings: ["count"]) }
    let reference = ModelReference(parsing: path)
    let model = try reference.resolve(datasetsRoot: datasetsRoot, log: observer.message)
    model.setTraining(false)
    guard var source = data ?? reference.checkpointPath.flatMap(Checkpoint.recordedDataset).map(DataSource.dataset) else {
      throw TrainingError("\(path) records no data set: name one", settings: ["dataset"])
    }
    try source.check(accepted: [.dataset, .table, .imageFolder, .hdf5], by: "an audit")
    if let name = try source.catalogueName() { source = .dataset(name) }
    let test = try source.evaluationData(for: model, datasetsRoot: datasetsRoot, log: observer.message)
    return (model, test.evenlySpacedSubset(min(count, test.count)), source)
  }

  /// Runs both randomisation tests, and the data-randomisation test when a permuted-label model is named.
  public func run() throws -> SanityOutcome {
    if let path = settings.shuffledModel, !FileManager.default.fileExists(atPath: path) {
      throw TrainingError("no checkpoint at \(path)", settings: ["shuffledModel"])
    }
    let (model, data, source) = try Self.load(
      settings.model, data: settings.data, count: settings.count, datasetsRoot: datasetsRoot, observer: observer)
    let methods = settings.methods ?? SanitySettings.defaultMethods(spatial: model.inputShape.count == 3)
    if case .dataset(let name) = source {
      try BlackBoxReference.attach(to: [model], methods: methods, dataset: name, datasetsRoot: datasetsRoot)
    }
    var resolved = settings
    resolved.data = source
    resolved.methods = methods
    let layers = Self.parameterLayers(model)
    let original = try Dictionary(uniqueKeysWithValues: methods.map { ($0.rawValue, try AuditMapSet.explain(model, data: data, method: $0)) })
    func compare(_ other: Model, layer: String) throws -> RandomisationStep {
      var similarity: [String: MapSimilarity] = [:]
      for m in methods {
        similarity[m.rawValue] = MapSimilarity.between(
          original[m.rawValue]!, try AuditMapSet.explain(other, data: data, method: m), topKFraction: settings.topKFraction)
      }
      return RandomisationStep(layer: layer, similarity: similarity)
    }
    let total = 2 * layers.count + 1 + (settings.shuffledModel == nil ? 0 : 1)
    var done = 0
    func advance() {
      done += 1
      observer.progress(RunProgress(task: "sanity checks", done: done, total: total))
    }
    observer.progress(RunProgress(task: "sanity checks", done: 0, total: total))
    var cascading = [try compare(model, layer: "none")]
    advance()
    let cascade = model.deepCopy()
    for (i, layer) in layers.enumerated() {
      Self.randomise(cascade, layers: [layer], seed: settings.seed &+ UInt64(i))
      cascading.append(try compare(cascade, layer: layer))
      advance()
    }
    var independent = [cascading[0]]
    for (i, layer) in layers.enumerated() {
      let copy = model.deepCopy()
      Self.randomise(copy, layers: [layer], seed: settings.seed &+ UInt64(i))
      independent.append(try compare(copy, layer: layer))
      advance()
    }
    var dataStep: RandomisationStep?, shuffledAccuracy: Float?
    if let path = settings.shuffledModel {
      let shuffled = try Checkpoint.load(path, log: observer.message)
      guard shuffled.inputShape == model.inputShape, shuffled.architecture == model.architecture else {
        throw TrainingError("\(path) is a \(shuffled.architecture) for \(shuffled.inputShape), not a \(model.architecture) for \(model.inputShape)", settings: ["shuffledModel"])
      }
      shuffled.explanationReference = model.explanationReference
      dataStep = try compare(shuffled, layer: "labels")
      shuffledAccuracy = Trainer.evaluate(shuffled, on: data).accuracy
      advance()
    }
    observer.finished("sanity checks")
    let report = SanityReport(
      modelfool: ModelFoolVersion.description, settings: resolved, architecture: model.architecture, examples: data.count,
      layers: layers, cascading: cascading, independent: independent, dataRandomisation: dataStep,
      accuracy: Trainer.evaluate(model, on: data).accuracy, shuffledAccuracy: shuffledAccuracy)
    return SanityOutcome(report: report)
  }
}

/// The result of a ``SanityCheck``.
public struct SanityOutcome: Sendable {
  public var report: SanityReport

  /// The curves of one randomisation kind: per method, the values of `measure` along the steps.
  public func curves(_ steps: [RandomisationStep], measure: (MapSimilarity) -> Float?) -> [(name: String, values: [Float?])] {
    (report.settings.methods ?? []).map { m in (m.rawValue, steps.map { $0.similarity[m.rawValue].flatMap(measure) }) }
  }

  /// Writes `report.json`, `report.html` and its SVG curves (`cascading-*.svg`, `independent-*.svg`)
  /// into `folder`, all together or none.
  public func write(to folder: String) throws {
    let json = try RunJSON.encode(report) + "\n"
    let measures: [(String, String, (MapSimilarity) -> Float?)] = [
      ("spearman-abs", "Spearman rank correlation of |map|", { $0.spearmanAbs }),
      ("spearman-signed", "Spearman rank correlation of the signed map", { $0.spearmanSigned }),
      ("ssim", "SSIM of the heatmaps", { $0.ssim }),
      ("topk", "top-k overlap of |map|", { $0.topK }),
    ]
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText(json, to: staging + "/report.json")
      var html = ReportHTML.head(title: "ModelFool sanity checks: \(report.settings.model)")
      html += "<h1>Sanity checks (Adebayo et al. 2018)</h1><p>\(ReportHTML.escape(report.settings.model)) (\(report.architecture)), "
        + "\(report.examples) test examples of \(ReportHTML.escape(report.settings.data?.label ?? "")); accuracy on them \(String(format: "%.3f", report.accuracy)). "
        + "Each point compares a method's maps after randomising weights with the original model's maps; a method that passes the check falls towards 0.</p>"
      for (kind, steps, caption) in [
        ("cascading", report.cascading, "cascading randomisation: layers randomised from the top down, cumulatively"),
        ("independent", report.independent, "independent randomisation: one layer at a time"),
      ] {
        html += "<h2>\(caption)</h2><div style='display:flex;flex-wrap:wrap;gap:12px'>"
        for (key, title, measure) in measures {
          let series = curves(steps, measure: measure)
          guard series.contains(where: { $0.values.contains { $0 != nil } }) else { continue }
          let svg = AuditChart.lines(title: title, xLabels: steps.map(\.layer), series: series, yRange: (-0.2, 1))
          let file = "\(kind)-\(key).svg"
          try RunOutputs.writeText(svg, to: staging + "/" + file)
          html += "<img src=\"\(file)\" alt=\"\(ReportHTML.escape(title))\">"
        }
        html += "</div>"
        html += table(steps)
      }
      if let d = report.dataRandomisation {
        html += "<h2>data randomisation: a model trained on permuted labels (\(ReportHTML.escape(report.settings.shuffledModel ?? "")); accuracy "
          + String(format: "%.3f", report.shuffledAccuracy ?? .nan) + ")</h2>" + table([d])
      }
      html += ReportHTML.tail
      try RunOutputs.writeText(html, to: staging + "/report.html")
    }
  }

  /// One HTML table row per step and method with the four measures.
  func table(_ steps: [RandomisationStep]) -> String {
    let rows = steps.flatMap { step in
      (report.settings.methods ?? []).map { m -> [String] in
        let s = step.similarity[m.rawValue]
        return [ReportHTML.escape(step.layer), m.rawValue] + (s?.named ?? []).map { $0.value.map { String(format: "%.3f", $0) } ?? "–" }
      }
    }
    return ReportHTML.table(header: ["randomised", "method", "spearman |map|", "spearman signed", "ssim", "top-k"], rows: rows, leftColumns: 2)
  }
}
