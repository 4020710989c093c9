import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// An input attack as a library object (Dombrowski et al. 2019): perturb test inputs so that
/// their explanations match target maps while the outputs stay, then score the result, with the
/// beta-smoothing defence and an optional comparison with a fine-tuned (model-manipulated) model.
public struct InputAttackRun: Sendable {
  public var settings: InputAttackSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives progress and messages.
  public var observer: RunObserver

  /// A run of `settings`.
  public init(settings: InputAttackSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Runs the attack and scores it. Writes nothing: see ``InputAttackOutcome/write(to:)``.
  public func run() throws -> InputAttackOutcome {
    try settings.validate()
    let dataset = settings.resolvedDataset
    let split = try DatasetCatalog.load(dataset, root: datasetsRoot)
    // The hide target runs on the same biased base model as fine-tuning's hide objective.
    let (network, basePath) = try FineTuneSetup.loadOrTrainBase(
      path: settings.model, dataset: dataset, split: split, seed: settings.seed, datasetsRoot: datasetsRoot,
      hiding: settings.target == .hide, observer: observer)
    try ModelInputs.checkShape(split.test.inputs, for: network, source: "data set \(dataset)")
    network.setTraining(false)
    let method = settings.method
    let large = FineTuneSetup.isLargeImage(network)
    let tabular = network.inputShape.count == 1
    var resolved = settings
    resolved.dataset = dataset
    resolved.model = basePath
    resolved.count = settings.count ?? (large ? 2 : 32)
    resolved.steps = settings.steps ?? (large ? 150 : 500)
    resolved.learningRate = settings.learningRate ?? (large ? 2e-3 : 5e-2)
    resolved.gamma = settings.gamma ?? (tabular ? 1 : 1e-2)
    if settings.target.fragility != nil {
      guard !tabular else { throw TrainingError("the \(settings.target.rawValue) target attacks image explanations; \(network.architecture) takes table rows", settings: ["target"]) }
      resolved.epsilon = settings.epsilon ?? 8 / 255
    }
    if !method.usesBetaSmoothing {
      resolved.betaGrowth = nil
    }
    if resolved.betaGrowth == nil { resolved.smoothPooling = false }
    try resolved.validate()
    let data = split.test.evenlySpacedSubset(resolved.count!)
    let n = data.count
    if let targetIndex = settings.targetIndex, !(0..<n).contains(targetIndex) {
      throw TrainingError("target example \(targetIndex) is out of range 0..<\(n)", settings: ["targetIndex"])
    }
    var options = InputAttackOptions()
    options.method = method
    options.steps = resolved.steps!
    options.learningRate = resolved.learningRate!
    options.outputWeight = resolved.gamma! * options.explanationWeight
    options.betaGrowth = resolved.betaGrowth.map { ($0[0], $0[1]) }
    options.smoothPooling = resolved.smoothPooling
    options.epsilon = resolved.epsilon
    options.norm = settings.norm
    options.inputRange = tabular ? nil : (0, 1)
    let spans = tabular ? try FeatureSpan.features(of: network) : []
    if tabular, !spans.isEmpty {
      options.columns = InputAttack.tabularConstraints(features: spans, reference: split.train.inputs)
    }

    let x = data.inputs
    let classes = withoutRecording { network(x) }.argmaxLastAxis()
    let targets = (0..<n).map { settings.targetIndex ?? ($0 + n / 2) % n }
    func maps(_ input: Tensor, beta: Float?) throws -> Tensor {
      try InputAttack.attackMap(network, input, classes: classes, method: method, beta: beta, createGraph: false).map.detached()
    }
    let originalMaps = try maps(x, beta: settings.defenceBeta)
    let targetMaps: Tensor
    var hidden: [Int] = []
    switch settings.target {
    case .image: targetMaps = originalMaps.selectingRows(targets)
    case .frame:
      guard originalMaps.rank == 3 else {
        throw TrainingError("the frame target needs spatial maps; \(method) gives \(originalMaps.shape)", settings: ["target"])
      }
      targetMaps = InputAttack.frameTarget(like: originalMaps)
    case .hide:
      guard tabular, !spans.isEmpty else {
        throw TrainingError("the hide target needs a tabular model with named features", settings: ["target"])
      }
      hidden = try FineTuneSetup.hiddenGroups(settings.sensitive, dataset: dataset, features: spans)
      targetMaps = InputAttack.hideTarget(originalMaps, columns: hidden.flatMap { Array(spans[$0].columns) })
      resolved.sensitive = hidden.map { spans[$0].name }
    case .topK, .centerMass, .randomSign:
      targetMaps = originalMaps  // the attack moves away from the clean map: scored against it
    }
    // Load the model to compare with first, so that a bad path fails before the attack runs.
    let versus = try settings.versus.map { path in
      (model: try Checkpoint.load(path, log: observer.message), seconds: (try? Checkpoint.runRecord(path)).flatMap { $0 }
        .flatMap { try? FineTuneDocument.decode($0, source: path).seconds })
    }
    let start = Date()
    let adversarial = try settings.target.fragility.map { kind in
      try FragilityAttack.run(network, x, originalMaps: originalMaps, classes: classes, kind: kind, options: options, scoringBeta: settings.defenceBeta, seed: settings.seed, observer: observer)
    } ?? InputAttack.run(network, x, targetMaps: targetMaps, options: options, observer: observer).adversarial
    let seconds = Date().timeIntervalSince(start)
    let examples = try InputAttack.evaluate(
      network, original: x, adversarial: adversarial, classes: classes, labels: data.labels,
      targetMaps: targetMaps, targetIndices: targets, method: method, beta: settings.defenceBeta)
    var sweep: [String: Float]?
    if let betas = settings.sweepBetas {
      sweep = [:]
      for beta in betas {
        // An image target is re-explained with the same beta; the frame and hide targets stay.
        let smoothedTargets = settings.target == .image ? try maps(x, beta: beta).selectingRows(targets) : targetMaps
        let scored = try InputAttack.evaluate(
          network, original: x, adversarial: adversarial, classes: classes, labels: data.labels,
          targetMaps: smoothedTargets, targetIndices: targets, method: method, beta: beta)
        sweep?[beta.map { String(format: "%g", $0) } ?? "inf"] = scored.reduce(0) { $0 + $1.pccToTarget } / Float(scored.count)
      }
    }
    var summary = InputAttack.summarize(examples, method: method, seconds: seconds, betaSweep: sweep)
    if !hidden.isEmpty {
      summary.hiding = try InputAttack.hidingScore(
        network, original: x, adversarial: adversarial, classes: classes, method: method, features: spans, hidden: hidden)
    }
    let adversarialMaps = try maps(adversarial, beta: settings.defenceBeta)
    if settings.target.fragility != nil {
      summary.fragility = FragilityAttack.score(originalMaps: originalMaps, adversarialMaps: adversarialMaps, inputHeight: x.rank == 4 ? x.shape[2] : nil)
    }
    if let versus {
      summary.comparison = try InputAttack.compare(
        inputAttack: summary, base: network, fooled: versus.model, fooledSeconds: versus.seconds,
        data: data, classes: classes, targetMaps: targetMaps, method: method)
    }
    let targetLabels = targets.map { t in
      switch settings.target {
      case .frame: "frame"
      case .hide: "itself, hidden features removed"
      case .image: "example \(t) (label \(data.labels[t]))"
      case .topK, .centerMass, .randomSign: "away from its own map"
      }
    }
    let arrays = InputAttackArrays(
      original: x, adversarial: adversarial, originalMaps: originalMaps,
      adversarialMaps: adversarialMaps, targetMaps: targetMaps, classes: classes,
      adversarialClasses: examples.map(\.adversarialClass))
    return InputAttackOutcome(
      report: InputAttackReport(
        run: InputAttackDocument(modelfool: ModelFoolVersion.description, settings: resolved), summary: summary),
      targetLabels: targetLabels, arrays: arrays)
  }
}

/// The record of an input attack: the settings with every default resolved and the version.
public struct InputAttackDocument: Codable, Sendable, Equatable {
  /// The document kind.
  public static let kind = "modelfool-attack-input"
  /// The layout version of this document.
  public static let currentVersion = 1

  public var format = InputAttackDocument.kind
  public var formatVersion = InputAttackDocument.currentVersion
  /// The ModelFool release that ran it.
  public var modelfool: String
  /// The settings, every default resolved (`model` is the attacked checkpoint's path).
  public var settings: InputAttackSettings
}

/// What `report.json` of an input attack holds: the record, then the summary and per-example scores.
public struct InputAttackReport: Codable, Sendable {
  public var run: InputAttackDocument
  public var summary: InputAttackSummary
}

/// Inputs, maps and classes of an attack: its pictures (`example-<i>.png`) and saved arrays.
public struct InputAttackArrays: @unchecked Sendable {
  public var original: Tensor
  public var adversarial: Tensor
  /// The attack maps (``InputAttack/attackMap(_:_:classes:method:beta:createGraph:)``) of the
  /// clean and the attacked inputs, and the targets.
  public var originalMaps: Tensor
  public var adversarialMaps: Tensor
  public var targetMaps: Tensor
  /// The base model's classes on the clean and on the attacked inputs.
  public var classes: [Int]
  public var adversarialClasses: [Int]

  /// The arrays by name, for ``ArrayExport/save(_:to:)``: `inputs`, `adversarial`, `maps`,
  /// `adversarial_maps`, `target_maps`, `classes`, `adversarial_classes`.
  public var named: [NamedArray] {
    [
      NamedArray(name: "inputs", tensor: original), NamedArray(name: "adversarial", tensor: adversarial),
      NamedArray(name: "maps", tensor: originalMaps), NamedArray(name: "adversarial_maps", tensor: adversarialMaps),
      NamedArray(name: "target_maps", tensor: targetMaps), NamedArray(name: "classes", ints: classes),
      NamedArray(name: "adversarial_classes", ints: adversarialClasses),
    ]
  }
}

/// The result of an ``InputAttackRun``.
public struct InputAttackOutcome: @unchecked Sendable {
  public var report: InputAttackReport
  /// Per example, what its target is (`example 5 (label 3)`, `frame`).
  public var targetLabels: [String]
  /// Inputs, maps and classes.
  public var arrays: InputAttackArrays

  /// Whether the inputs are images (pictures are written).
  public var hasPictures: Bool { arrays.original.rank == 4 }

  /// Writes `report.json`, `report.html` and, for images, `example-<i>.png` into `folder`, all
  /// together or none (``RunOutputs``).
  public func write(to folder: String) throws {
    let json = try RunJSON.encode(report)
    var rows = try RunJSON.rows(report.run.settings)
    rows["modelfool"] = report.run.modelfool
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText(json + "\n", to: staging + "/report.json")
      if hasPictures {
        let p = arrays
        try InputAttackPictures.write(
          folder: staging, original: p.original, adversarial: p.adversarial, originalMaps: p.originalMaps,
          adversarialMaps: p.adversarialMaps, targetMaps: p.targetMaps)
      }
      try InputAttackReportPage.write(
        folder: staging, summary: report.summary, settings: rows, targetLabels: targetLabels, pictures: hasPictures)
    }
  }
}
