import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// Statistics of explanation maps that a model fine-tuned to fool its explanations tends to move
/// (docs/METHODS.md §11.2). Plain functions of map sets, so they can be checked on hand-made maps.
public enum AuditStatistics {
  /// A label class gets its own `disagreement` statistic when it has at least this many examples.
  public static let minimumClassExamples = 5

  /// How alike the heatmaps of *different* inputs are: the mean Pearson correlation over every
  /// pair of examples with different labels (every pair when `labels` is empty or has one
  /// class). A location-fooled Grad-CAM draws the same frame for every digit: close to 1.
  public static func sameness(_ maps: AuditMapSet, labels: [Int]) -> Float {
    let n = maps.count
    let useLabels = labels.count == n && Set(labels).count > 1
    var sum = 0.0, pairs = 0
    for i in 0..<n {
      for j in (i + 1)..<max(n, i + 1) where !useLabels || labels[i] != labels[j] {
        sum += Double(SimilarityMetrics.pearson(maps.heat[i], maps.heat[j]))
        pairs += 1
      }
    }
    return pairs == 0 ? 0 : Float(sum / Double(pairs))
  }

  /// The mean Spearman rank correlation of two sets of heatmaps of the same examples, over the
  /// examples where `keep` is true (all when it is nil).
  public static func agreement(_ a: AuditMapSet, _ b: AuditMapSet, keep: [Bool]? = nil) -> Float {
    precondition(a.count == b.count && a.height * a.width == b.height * b.width, "agreement: map sets differ in shape")
    var sum = 0.0, n = 0
    for i in 0..<a.count where keep?[i] ?? true {
      sum += Double(SimilarityMetrics.spearman(a.heat[i], b.heat[i]))
      n += 1
    }
    return n == 0 ? .nan : Float(sum / Double(n))
  }

  /// `1 -` the mean, over the `partners` (map sets of other methods, same examples and map size),
  /// of ``agreement(_:_:keep:)`` of `own` with each, over the examples where `keep` is true (all
  /// when it is nil). NaN when no example is kept.
  public static func disagreement(_ own: AuditMapSet, partners: [AuditMapSet], keep: [Bool]? = nil) -> Float {
    precondition(!partners.isEmpty, "disagreement: no partner method")
    return 1 - partners.map { agreement(own, $0, keep: keep) }.reduce(0, +) / Float(partners.count)
  }

  /// Adds Gaussian noise to every trainable tensor of `model`: standard deviation `relative`
  /// times the tensor's own standard deviation.
  public static func perturbWeights(_ model: Model, relative: Float, seed: UInt64) {
    var generator = SeededGenerator(seed: seed)
    for p in model.trainableParameters() {
      p.value = p.value.detached() + Tensor.randomNormal(p.shape, mean: 0, standardDeviation: relative * spread(p.value.scalars), using: &generator)
    }
  }

  /// The (population) standard deviation of `values`; 0 for none.
  public static func spread(_ values: [Float]) -> Float {
    let n = Float(max(values.count, 1))
    let mean = values.reduce(0, +) / n
    return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
  }
}

/// Everything that decides a manipulation audit (`modelfool audit manipulation`).
public struct ManipulationSettings: Codable, Sendable, Equatable {
  /// The suspect checkpoint.
  public var model: String
  /// A trusted model for the same task: adds the `reference` statistics.
  public var reference: String?
  /// Catalogue data set whose test split is used; nil: the one the checkpoint records.
  public var dataset: String?
  /// Methods measured; nil: images gradcam, lrp_t, simplegrad_t, simplegrad, lrp; tabular
  /// simplegrad, gradxinput, lrp, ig.
  public var methods: [ExplanationMethod]?
  /// Evenly spaced held-out examples.
  public var count = ManipulationSettings.defaultCount
  public var seed: UInt64 = 0
  /// Weight noise of the brittleness statistic, relative to each tensor's standard deviation.
  public var noise: Float = 0.05
  /// Softplus beta of the smoothing statistic.
  public var beta: Float = 10
  /// A calibration file (``AuditCalibration``) of clean models of the same architecture.
  public var calibration: String?
  /// Overrides the calibration's threshold on the score.
  public var threshold: Float?

  /// The default number of examples: about 25 per class of a 10-class task, for the per-class
  /// statistics.
  public static let defaultCount = 256

  public init(model: String) { self.model = model }

  /// The default methods for an image (`spatial`) or tabular model.
  public static func defaultMethods(spatial: Bool) -> [ExplanationMethod] {
    spatial ? [.gradCAM, .lrpTarget, .simpleGradTarget, .simpleGrad, .lrp] : [.simpleGrad, .gradTimesInput, .lrp, .integratedGradients]
  }
}

/// One statistic of a suspect model and how far it lies from clean models.
public struct AuditStatistic: Codable, Sendable, Equatable {
  /// `sameness gradcam`, `disagreement lrp_t`, `disagreement lrp_t label 3`, `noise simplegrad`,
  /// `smoothing lrp`, `reference gradcam`.
  public var name: String
  public var value: Float
  /// Mean and standard deviation (floored) over the calibration's clean models, and
  /// `z = (value - mean) / sd` (nil without a calibration holding this statistic).
  public var cleanMean: Float?
  public var cleanSD: Float?
  public var z: Float?

  /// A measured statistic, not yet compared with clean models.
  public init(name: String, value: Float) {
    self.name = name
    self.value = value
  }
}

/// What `audit manipulation` reports: the statistics, one score, the threshold and a verdict.
public struct ManipulationReport: Codable, Sendable {
  public var modelfool: String
  public var settings: ManipulationSettings
  public var architecture: String
  public var examples: Int
  public var statistics: [AuditStatistic]
  /// The largest `|z|` over the statistics (nil without a calibration).
  public var score: Float?
  /// The statistic that gave the score.
  public var scoreStatistic: String?
  public var threshold: Float?
  /// `manipulated` (score above the threshold), `clean`, or `uncalibrated`.
  public var verdict: String

  public init(
    modelfool: String, settings: ManipulationSettings, architecture: String, examples: Int, statistics: [AuditStatistic],
    score: Float?, scoreStatistic: String?, threshold: Float?, verdict: String
  ) {
    (self.modelfool, self.settings, self.architecture, self.examples, self.statistics) = (modelfool, settings, architecture, examples, statistics)
    (self.score, self.scoreStatistic, self.threshold, self.verdict) = (score, scoreStatistic, threshold, verdict)
  }

  /// Text: the verdict line, then one row per statistic.
  public func table() -> String {
    var lines = [
      "verdict: \(verdict)" + (score.map { s in String(format: " (score %.2f = |z| of %@, threshold %.2f)", s, scoreStatistic ?? "", threshold ?? .nan) } ?? " (no calibration: pass one made by `audit calibrate`)"),
      "statistic".padding(toLength: 34, withPad: " ", startingAt: 0) + "     value  clean mean  clean sd        z",
    ]
    for s in statistics {
      lines.append(s.name.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%10.4f", s.value)
        + (s.cleanMean.map { String(format: "%12.4f", $0) } ?? "           –")
        + (s.cleanSD.map { String(format: "%10.4f", $0) } ?? "         –")
        + (s.z.map { String(format: "%9.2f", $0) } ?? "        –"))
    }
    return lines.joined(separator: "\n")
  }
}

/// The clean models' statistics a suspect is compared with, and the threshold on its score.
public struct AuditCalibration: Codable, Sendable, Equatable {
  public static let kind = "modelfool-audit-calibration"
  /// The smallest standard deviation used in a z-score: a statistic that barely varies over a
  /// few clean models would otherwise flag any model.
  public static let sdFloor: Float = 0.01
  /// The threshold is at least this, and at least ``margin`` times the largest leave-one-out score.
  public static let minimumThreshold: Float = 3
  public static let margin: Float = 1.25

  public struct Reference: Codable, Sendable, Equatable {
    public var mean: Float
    public var sd: Float
  }

  public var format = AuditCalibration.kind
  public var architecture: String
  /// The clean checkpoints it was made from.
  public var models: [String]
  public var statistics: [String: Reference]
  /// Each clean model's score against the others (leave-one-out).
  public var leaveOneOutScores: [Float]
  public var threshold: Float

  /// Mean and floored standard deviation of each statistic over `values` (one dictionary per model).
  static func references(_ values: [[String: Float]]) -> [String: Reference] {
    guard let first = values.first else { return [:] }
    var out: [String: Reference] = [:]
    for name in first.keys where values.allSatisfy({ $0[name]?.isFinite == true }) {
      let xs = values.map { Double($0[name]!) }
      let mean = xs.reduce(0, +) / Double(xs.count)
      let sd = xs.count > 1 ? (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)).squareRoot() : 0
      out[name] = Reference(mean: Float(mean), sd: max(Float(sd), sdFloor))
    }
    return out
  }

  /// The score of `values` against `references`: the largest `|z|`, and its statistic.
  public static func score(_ values: [String: Float], references: [String: Reference]) -> (score: Float, statistic: String)? {
    var best: (Float, String)?
    for (name, r) in references.sorted(by: { $0.key < $1.key }) {
      guard let v = values[name], v.isFinite else { continue }
      let z = abs(v - r.mean) / r.sd
      if best == nil || z > best!.0 { best = (z, name) }
    }
    return best
  }

  /// A calibration from the reports of at least 3 clean models of one architecture. The threshold
  /// is `max(3, 1.25 * the largest leave-one-out score)`: each clean model scored against the others.
  public static func make(_ reports: [ManipulationReport]) throws -> AuditCalibration {
    guard reports.count >= 3 else { throw TrainingError("a calibration needs at least 3 clean models, got \(reports.count)", settings: ["models"]) }
    let architectures = Set(reports.map(\.architecture))
    guard architectures.count == 1 else { throw TrainingError("the clean models mix architectures: \(architectures.sorted().joined(separator: ", "))", settings: ["models"]) }
    let values = reports.map { Dictionary(uniqueKeysWithValues: $0.statistics.map { ($0.name, $0.value) }) }
    let loo = values.indices.map { i -> Float in
      var others = values
      others.remove(at: i)
      return score(values[i], references: references(others))?.score ?? 0
    }
    return AuditCalibration(
      architecture: reports[0].architecture, models: reports.map(\.settings.model), statistics: references(values),
      leaveOneOutScores: loo, threshold: max(minimumThreshold, margin * (loo.max() ?? 0)))
  }

  /// Reads a calibration file.
  public static func load(_ path: String) throws -> AuditCalibration {
    guard let data = FileManager.default.contents(atPath: path) else { throw TrainingError("no calibration file at \(path)", settings: ["calibration"]) }
    let c = try RunJSON.decode(AuditCalibration.self, from: String(decoding: data, as: UTF8.self), what: path)
    guard c.format == kind else { throw TrainingError("\(path) is not an audit calibration", settings: ["calibration"]) }
    return c
  }
}

/// The manipulation audit: statistics of a suspect model's maps on held-out data that flag
/// fooled explanations (docs/METHODS.md §11.2), scored against clean models.
public struct ManipulationAudit: Sendable {
  public var settings: ManipulationSettings
  public var datasetsRoot: String
  public var observer: RunObserver

  public init(settings: ManipulationSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// The statistics of `model` on `data` (and of `reference`, when given), in a fixed order.
  public static func statistics(
    _ model: Model, data: Dataset, methods: [ExplanationMethod], reference: Model? = nil, noise: Float, beta: Float, seed: UInt64,
    observer: RunObserver = .silent
  ) throws -> [AuditStatistic] {
    var maps: [ExplanationMethod: AuditMapSet] = [:]
    for m in methods { maps[m] = try AuditMapSet.explain(model, data: data, method: m) }
    let classes = model.classNames.count
    let noisy = model.deepCopy()
    AuditStatistics.perturbWeights(noisy, relative: noise, seed: seed)
    var out: [AuditStatistic] = []
    func add(_ name: String, _ value: Float) { out.append(AuditStatistic(name: name, value: value)) }
    let total = methods.count
    observer.progress(RunProgress(task: "audit statistics", done: 0, total: total))
    var referenceKeep: [Bool]?
    if let reference {
      let a = Trainer.logits(model, on: data).argmaxLastAxis(), b = Trainer.logits(reference, on: data).argmaxLastAxis()
      referenceKeep = zip(a, b).map { $0 == $1 }
    }
    for (i, m) in methods.enumerated() {
      let own = maps[m]!
      add("sameness \(m.rawValue)", AuditStatistics.sameness(own, labels: data.labels))
      let partners = methods.filter { $0 != m && maps[$0]!.height * maps[$0]!.width == own.height * own.width }
      if !partners.isEmpty {
        let partnerMaps = partners.map { maps[$0]! }
        add("disagreement \(m.rawValue)", AuditStatistics.disagreement(own, partners: partnerMaps))
        // Per label class: active fooling swaps two classes' maps, which the mean over every
        // label dilutes (docs/METHODS.md §11.2).
        for c in 0..<classes where data.labels.filter({ $0 == c }).count >= AuditStatistics.minimumClassExamples {
          add("disagreement \(m.rawValue) label \(c)", AuditStatistics.disagreement(own, partners: partnerMaps, keep: data.labels.map { $0 == c }))
        }
      }
      add("noise \(m.rawValue)", 1 - AuditStatistics.agreement(own, try AuditMapSet.explain(noisy, data: data, method: m)))
      if m.usesBetaSmoothing {
        add("smoothing \(m.rawValue)", 1 - AuditStatistics.agreement(own, try AuditMapSet.explain(model, data: data, method: m, beta: beta)))
      }
      if let reference, let keep = referenceKeep {
        add("reference \(m.rawValue)", 1 - AuditStatistics.agreement(own, try AuditMapSet.explain(reference, data: data, method: m), keep: keep))
      }
      observer.progress(RunProgress(task: "audit statistics", done: i + 1, total: total))
    }
    observer.finished("audit statistics")
    return out
  }

  /// Measures the statistics and, with a calibration, scores them.
  public func run() throws -> ManipulationReport {
    let (model, data, name) = try SanityCheck.load(settings.model, dataset: settings.dataset, count: settings.count, datasetsRoot: datasetsRoot, observer: observer)
    guard settings.noise > 0, settings.noise.isFinite else { throw TrainingError("the weight noise must be positive, got \(settings.noise)", settings: ["noise"]) }
    guard settings.beta > 0, settings.beta.isFinite else { throw TrainingError("beta must be positive, got \(settings.beta)", settings: ["beta"]) }
    if let t = settings.threshold, !(t > 0) { throw TrainingError("the threshold must be positive, got \(t)", settings: ["threshold"]) }
    let calibration = try settings.calibration.map(AuditCalibration.load)
    if let calibration, calibration.architecture != model.architecture {
      throw TrainingError("the calibration is for \(calibration.architecture), \(settings.model) is a \(model.architecture)", settings: ["calibration"])
    }
    var reference: Model?
    if let path = settings.reference {
      guard FileManager.default.fileExists(atPath: path) else { throw TrainingError("no checkpoint at \(path)", settings: ["reference"]) }
      let r = try Checkpoint.load(path, log: observer.message)
      guard r.inputShape == model.inputShape, r.classNames.count == model.classNames.count else {
        throw TrainingError("the reference \(path) takes \(r.inputShape), the suspect \(model.inputShape)", settings: ["reference"])
      }
      r.setTraining(false)
      reference = r
    }
    var resolved = settings
    resolved.dataset = name
    resolved.methods = settings.methods ?? ManipulationSettings.defaultMethods(spatial: model.inputShape.count == 3)
    var statistics = try Self.statistics(
      model, data: data, methods: resolved.methods!, reference: reference, noise: settings.noise, beta: settings.beta, seed: settings.seed,
      observer: observer)
    var score: (score: Float, statistic: String)?
    var threshold = settings.threshold
    if let calibration {
      for i in statistics.indices {
        guard let r = calibration.statistics[statistics[i].name] else { continue }
        statistics[i].cleanMean = r.mean
        statistics[i].cleanSD = r.sd
        statistics[i].z = (statistics[i].value - r.mean) / r.sd
      }
      score = AuditCalibration.score(
        Dictionary(uniqueKeysWithValues: statistics.map { ($0.name, $0.value) }), references: calibration.statistics)
      threshold = threshold ?? calibration.threshold
    }
    let verdict = score.map { $0.score > (threshold ?? .infinity) ? "manipulated" : "clean" } ?? "uncalibrated"
    return ManipulationReport(
      modelfool: ModelFoolVersion.description, settings: resolved, architecture: model.architecture, examples: data.count,
      statistics: statistics, score: score?.score, scoreStatistic: score?.statistic, threshold: threshold, verdict: verdict)
  }
}
