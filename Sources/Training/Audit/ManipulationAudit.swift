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

  /// Where a tabular method puts its relevance: for each feature (group of columns; a one-hot
  /// feature's columns form one group), the mean over rows of `|R_f| / sum_g |R_g|`, where `R_f`
  /// is the feature's relevance as the tabular fooling objectives sum it
  /// (``Heatmap/sumPerFeature(_:features:inputs:)``: only the present categories of a one-hot
  /// feature count). `inputs` are the explained rows. Rows whose relevance is 0 everywhere are left
  /// out; every share is NaN when all rows are. A model fine-tuned to hide a feature drives that
  /// feature's share towards 0 (docs/METHODS.md §11.2).
  public static func featureShares(_ maps: AuditMapSet, features: [FeatureSpan], inputs: [[Float]]) -> [Float] {
    let n = maps.count, d = maps.height * maps.width
    precondition(inputs.count == n && inputs.allSatisfy { $0.count == d }, "featureShares: \(inputs.count) input rows for \(n) maps of \(d) values")
    guard n > 0, !features.isEmpty else { return features.map { _ in .nan } }
    let perFeature = Heatmap.sumPerFeature(
      Tensor(shape: [n, d], scalars: maps.heat.flatMap { $0 }), features: features, inputs: Tensor(shape: [n, d], scalars: inputs.flatMap { $0 })
    ).scalars
    let g = features.count
    var sums = [Double](repeating: 0, count: g), rows = 0
    for i in 0..<n {
      let r = perFeature[(i * g)..<((i + 1) * g)].map { Double(abs($0)) }
      let total = r.reduce(0, +)
      guard total > 0 else { continue }
      for f in 0..<g { sums[f] += r[f] / total }
      rows += 1
    }
    return sums.map { rows == 0 ? .nan : Float($0 / Double(rows)) }
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
  /// The data whose test examples are used (a catalogue data set or table, an image folder or an
  /// HDF5 file); nil: the data set the checkpoint records.
  public var data: DataSource?
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
  /// The verdict's threshold on the score (the corrected p-value): the false-alarm rate the
  /// test allows on clean models (docs/METHODS.md §11.2).
  public var alpha = ManipulationSettings.defaultAlpha
  /// How the verdict reads the score: ``VerdictRule/pValue`` (the default) or ``VerdictRule/rank``.
  public var rule = VerdictRule.pValue
  /// Tabular models: also the black-box statistics (``BlackBoxAudit``: surrogate gaps under
  /// LIME's and KernelSHAP's perturbations, LIME and KernelSHAP shares), which expose scaffolds.
  public var blackBox = false

  /// The default number of examples: about 25 per class of a 10-class task, for the per-class
  /// statistics.
  public static let defaultCount = 256
  public static let defaultAlpha = 0.05

  public init(model: String) { self.model = model }

  /// The default methods for an image (`spatial`) or tabular model.
  public static func defaultMethods(spatial: Bool) -> [ExplanationMethod] {
    spatial ? [.gradCAM, .lrpTarget, .simpleGradTarget, .simpleGrad, .lrp] : [.simpleGrad, .gradTimesInput, .lrp, .integratedGradients]
  }
}

/// How `audit manipulation` turns the score into a verdict (docs/METHODS.md §11.2).
public enum VerdictRule: String, Codable, Sendable, CaseIterable {
  /// `manipulated` when the score (the smallest Holm-corrected p-value) is below alpha: exact
  /// when clean models' statistics are normal, too many false alarms when their tails are heavier.
  case pValue = "p"
  /// `manipulated` when the rank p-value of the uncapped Bonferroni bound `m p_min` among the
  /// calibration models' leave-one-out bounds (``AuditCalibration/rankP(_:leaveOneOut:)``) is at
  /// most alpha: the
  /// false-alarm rate holds for any distribution of clean models' statistics (they need only be
  /// exchangeable), and needs at least `1 / alpha - 1` calibration models to flag anything.
  case rank
}

/// One statistic of a suspect model and how far it lies from clean models.
public struct AuditStatistic: Codable, Sendable, Equatable {
  /// `sameness gradcam`, `disagreement lrp_t`, `disagreement lrp_t label 3`, `noise simplegrad`,
  /// `smoothing lrp`, `reference gradcam`, `share lrp sex` (tabular).
  public var name: String
  public var value: Float
  /// Mean and standard deviation (floored) over the calibration's clean models, and
  /// `z = (value - mean) / sd` (nil without a calibration holding this statistic).
  public var cleanMean: Float?
  public var cleanSD: Float?
  public var z: Float?
  /// Two-sided p-value of the value for one more clean model (Student-t predictive), and that
  /// p-value Holm-corrected for the number of statistics tested.
  public var p: Double?
  public var correctedP: Double?

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
  /// The smallest Holm-corrected p-value over the statistics, `min(1, m * p_min)` (nil without a
  /// calibration): small is suspicious.
  public var score: Double?
  /// The statistic that gave the score, and how many statistics were tested (`m`).
  public var scoreStatistic: String?
  public var statisticsTested: Int?
  /// `alpha`: the verdict is `manipulated` when the score (``VerdictRule/pValue``) is below it, or
  /// the rank p-value (``VerdictRule/rank``) at most it.
  public var threshold: Double?
  /// The rank p-value of the uncapped bound `m p_min` among the calibration models' leave-one-out
  /// bounds (``AuditCalibration/rankP(_:leaveOneOut:)``; nil without a calibration or with one made
  /// before the rank rule).
  public var rankP: Double?
  /// `manipulated` (score below the threshold), `clean`, or `uncalibrated`.
  public var verdict: String
  /// The weights digest of the model measured (``Checkpoint/digest(of:)``).
  public var modelDigest: String?
  /// The data the statistics were measured on: the data set's name, or the image folder or HDF5
  /// file.
  public var dataSource: String {
    settings.data?.label ?? ""
  }

  public init(
    modelfool: String, settings: ManipulationSettings, architecture: String, examples: Int, statistics: [AuditStatistic],
    score: Double?, scoreStatistic: String?, statisticsTested: Int?, threshold: Double?, verdict: String
  ) {
    (self.modelfool, self.settings, self.architecture, self.examples, self.statistics) = (modelfool, settings, architecture, examples, statistics)
    (self.score, self.scoreStatistic, self.statisticsTested, self.threshold, self.verdict) = (score, scoreStatistic, statisticsTested, threshold, verdict)
  }

  /// Text: the verdict line, then one row per statistic.
  public func table() -> String {
    let head = score.map { s in
      settings.rule == .rank
        ? String(format: " (rank p %.3g of m p_min among the calibration's leave-one-out values; score %.3g = Holm-corrected p of %@ among %d statistics; threshold alpha %.3g)",
          rankP ?? .nan, s, scoreStatistic ?? "", statisticsTested ?? 0, threshold ?? .nan)
        : String(format: " (score %.3g = Holm-corrected p of %@ among %d statistics, threshold alpha %.3g)", s, scoreStatistic ?? "", statisticsTested ?? 0, threshold ?? .nan)
    }
    var lines = [
      "verdict: \(verdict)" + (head ?? " (no calibration: pass one made by `audit calibrate`)")
    ]
    let rows = statistics.map { s in
      [
        s.name, String(format: "%.4f", s.value), s.cleanMean.map { String(format: "%.4f", $0) } ?? "–",
        s.cleanSD.map { String(format: "%.4f", $0) } ?? "–", s.z.map { String(format: "%.2f", $0) } ?? "–",
        s.p.map { String(format: "%.2g", $0) } ?? "–", s.correctedP.map { String(format: "%.2g", $0) } ?? "–",
      ]
    }
    lines.append(TextTable(header: ["statistic", "value", "clean mean", "clean sd", "z", "p", "Holm p"], rows: rows).render())
    return lines.joined(separator: "\n")
  }
}

/// The clean models' statistics a suspect is compared with (docs/METHODS.md §11.2).
public struct AuditCalibration: Codable, Sendable, Equatable, CheckedDocument {
  public static let kind = "modelfool-audit-calibration"
  /// The smallest standard deviation used in a z-score: a statistic that barely varies over a
  /// few clean models would otherwise flag any model.
  public static let sdFloor: Float = 0.01

  public struct Reference: Codable, Sendable, Equatable {
    public var mean: Float
    public var sd: Float
  }

  public var format = AuditCalibration.kind
  public var architecture: String
  /// The clean checkpoints it was made from (their number is the `n` of the p-values).
  public var models: [String]
  public var statistics: [String: Reference]
  /// Each clean model's score (corrected p-value) against the others (leave-one-out).
  public var leaveOneOutP: [Double]
  /// Each clean model's uncapped Bonferroni bound `m p_min` against the others (leave-one-out),
  /// what the rank rule ranks a suspect among (``rankP(_:leaveOneOut:)``): the score caps it at 1,
  /// and most clean models' scores are 1. Nil in a calibration made before the rank rule.
  public var leaveOneOutBound: [Double]?
  /// The data the statistics were measured on (``ManipulationReport/dataSource``): a suspect is
  /// scored only on the same data.
  public var dataset: String
  /// The weights digest of each clean model, all different.
  public var modelDigests: [String]

  /// Throws unless the calibration is one that ``make(_:)`` can write (it is read from a file):
  /// this format, at least 3 clean models with distinct weight digests, one leave-one-out score
  /// in `[0, 1]` each, and every statistic's mean finite and its standard deviation finite and at
  /// least ``sdFloor``.
  public func check(source: String) throws {
    func bad(_ field: String, _ value: Any, _ expected: String) -> DataError {
      InputFile.fieldError(source, field, value, expected: expected, settings: ["calibration"])
    }
    guard format == Self.kind else { throw bad("format", "'\(format)'", "'\(Self.kind)' (made by audit calibrate)") }
    guard models.count >= 3 else { throw bad("models", models.count, "at least 3 clean models") }
    guard modelDigests.count == models.count else { throw bad("model_digests", "\(modelDigests.count) digests", "one per model (\(models.count))") }
    guard Set(modelDigests).count == models.count else { throw bad("model_digests", modelDigests, "distinct models (a model counted twice)") }
    guard leaveOneOutP.count == models.count else { throw bad("leave_one_out_p", "\(leaveOneOutP.count) scores", "one per model (\(models.count))") }
    if let p = leaveOneOutP.first(where: { !($0 >= 0 && $0 <= 1) }) { throw bad("leave_one_out_p", p, "a p-value in [0, 1]") }
    if let bounds = leaveOneOutBound {
      guard bounds.count == models.count else { throw bad("leave_one_out_bound", "\(bounds.count) bounds", "one per model (\(models.count))") }
      if let b = bounds.first(where: { !($0 >= 0 && $0.isFinite) }) { throw bad("leave_one_out_bound", b, "a finite number >= 0") }
    }
    guard !statistics.isEmpty else { throw bad("statistics", "empty", "at least one statistic") }
    for (name, r) in statistics.sorted(by: { $0.key < $1.key }) {
      guard r.mean.isFinite else { throw bad("statistic '\(name)' mean", r.mean, "a finite number") }
      guard r.sd.isFinite, r.sd >= Self.sdFloor else { throw bad("statistic '\(name)' sd", r.sd, "finite and at least \(Self.sdFloor)") }
    }
  }

  /// Throws unless the calibration can score `report`'s model: the same architecture and data
  /// (``checkApplies(architecture:dataSource:model:source:)``), and every calibrated statistic
  /// measured.
  public func checkApplies(to report: ManipulationReport, source: String) throws {
    try checkApplies(architecture: report.architecture, dataSource: report.dataSource, model: report.settings.model, source: source)
    let measured = Set(report.statistics.map(\.name))
    if let missing = statistics.keys.sorted().first(where: { !measured.contains($0) }) {
      throw TrainingError("the calibration \(source) holds statistic '\(missing)', which was not measured for \(report.settings.model) (measure it with the calibration's methods and count)", settings: ["calibration"])
    }
  }

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

  /// A suspect scored against clean models: each statistic's p-value and Holm-corrected p-value,
  /// the score (the smallest corrected p-value) and the statistic that gave it.
  public struct Scored: Sendable, Equatable {
    public var p: [String: Double]
    public var correctedP: [String: Double]
    public var score: Double
    /// The uncapped Bonferroni bound `m p_min` (the score before its cap at 1).
    public var bound: Double
    public var statistic: String
    public var tested: Int { p.count }
  }

  /// `values` against `references` made from `n` clean models: for each calibrated, finite
  /// statistic the two-sided Student-t predictive p-value (``AuditPValues/predictive(_:mean:sd:n:)``),
  /// Holm-corrected over them; nil when no statistic can be scored.
  public static func score(_ values: [String: Float], references: [String: Reference], n: Int) -> Scored? {
    let names = references.keys.sorted().filter { values[$0]?.isFinite == true }
    let p = names.map { AuditPValues.predictive(Double(values[$0]!), mean: Double(references[$0]!.mean), sd: Double(references[$0]!.sd), n: n) }
    guard let best = p.indices.min(by: { p[$0] < p[$1] }), !p[best].isNaN else { return nil }
    let corrected = AuditPValues.holm(p)
    return Scored(
      p: Dictionary(uniqueKeysWithValues: zip(names, p)), correctedP: Dictionary(uniqueKeysWithValues: zip(names, corrected)),
      score: corrected[best], bound: Double(names.count) * p[best], statistic: names[best])
  }

  /// The rank p-value of a suspect's uncapped bound `m p_min` (``Scored/bound``) among the
  /// `leaveOneOut` bounds of `n` clean models: `(1 + #{i : leaveOneOut_i <= score}) / (n + 1)` (a
  /// conformal p-value; small bounds are suspicious). If the suspect is one more clean model, exchangeable with the calibration models,
  /// `P(rankP <= alpha) <= alpha` whatever the statistics' distribution; the leave-one-out scores are
  /// measured against `n - 1` models and the suspect's against `n`, so it is approximate for small
  /// `n`. Its smallest value is `1 / (n + 1)`.
  public static func rankP(_ score: Double, leaveOneOut: [Double]) -> Double {
    Double(1 + leaveOneOut.filter { $0 <= score }.count) / Double(leaveOneOut.count + 1)
  }

  /// The calibration's own score of `values` (see ``score(_:references:n:)``).
  public func score(_ values: [String: Float]) -> Scored? { Self.score(values, references: statistics, n: models.count) }

  /// Throws unless the calibration was made for models of `architecture` measured on
  /// `dataSource` (checked before a suspect is measured).
  public func checkApplies(architecture: String, dataSource: String, model: String, source: String) throws {
    guard self.architecture == architecture else {
      throw TrainingError("the calibration \(source) is for \(self.architecture), \(model) is a \(architecture)", settings: ["calibration"])
    }
    guard dataset == dataSource else {
      throw TrainingError("the calibration \(source) was measured on \(dataset), \(model) on \(dataSource)", settings: ["calibration"])
    }
  }

  /// Throws when two of the checkpoints at `paths` hold the same weights (``Checkpoint/digest(of:)``):
  /// one model given several times would make the clean models look alike. Checked before
  /// anything is measured.
  public static func checkDistinct(_ paths: [String]) throws {
    var seen: [String: String] = [:]
    for path in paths {
      guard FileManager.default.fileExists(atPath: path) else { throw TrainingError("no checkpoint at \(path)", settings: ["models"]) }
      let digest = Checkpoint.digest(of: try Checkpoint.load(path))
      if let other = seen.updateValue(path, forKey: digest) {
        throw TrainingError("\(other) and \(path) are the same model (weights digest \(digest)): a calibration needs distinct clean models", settings: ["models"])
      }
    }
  }

  /// A calibration from the reports of at least 3 clean models of one architecture, with each
  /// clean model's score against the others (leave-one-out).
  public static func make(_ reports: [ManipulationReport]) throws -> AuditCalibration {
    guard reports.count >= 3 else { throw TrainingError("a calibration needs at least 3 clean models, got \(reports.count)", settings: ["models"]) }
    let architectures = Set(reports.map(\.architecture))
    guard architectures.count == 1 else { throw TrainingError("the clean models mix architectures: \(architectures.sorted().joined(separator: ", "))", settings: ["models"]) }
    let sources = Set(reports.map(\.dataSource))
    guard sources.count == 1 else { throw TrainingError("the clean models were measured on different data: \(sources.sorted().joined(separator: ", "))", settings: ["models"]) }
    var seen: [String: String] = [:]
    for r in reports {
      guard let digest = r.modelDigest else { throw TrainingError("\(r.settings.model): no weights digest measured", settings: ["models"]) }
      if let other = seen.updateValue(r.settings.model, forKey: digest) {
        throw TrainingError("\(other) and \(r.settings.model) are the same model (weights digest \(digest)): a calibration needs distinct clean models", settings: ["models"])
      }
    }
    let values = reports.map { Dictionary(uniqueKeysWithValues: $0.statistics.map { ($0.name, $0.value) }) }
    let loo = values.indices.map { i -> Scored? in
      var others = values
      others.remove(at: i)
      return score(values[i], references: references(others), n: others.count)
    }
    return AuditCalibration(
      architecture: reports[0].architecture, models: reports.map(\.settings.model), statistics: references(values),
      leaveOneOutP: loo.map { $0?.score ?? 1 }, leaveOneOutBound: loo.map { $0?.bound ?? .greatestFiniteMagnitude },
      dataset: reports[0].dataSource, modelDigests: reports.map { $0.modelDigest! })
  }

  /// Reads a calibration file (one made before the p-value rule lacks `leave_one_out_p` and is refused).
  public static func load(_ path: String) throws -> AuditCalibration {
    guard FileManager.default.fileExists(atPath: path) else { throw TrainingError("no calibration file at \(path)", settings: ["calibration"]) }
    return try RunJSON.decode(AuditCalibration.self, from: try InputFile.text(path), what: path)
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

  /// The statistics of `model` on `data` (and of `reference`, when given), in a fixed order; with
  /// `train` rows, the black-box statistics (``BlackBoxAudit``) last.
  public static func statistics(
    _ model: Model, data: Dataset, methods: [ExplanationMethod], reference: Model? = nil, noise: Float, beta: Float, seed: UInt64,
    train: Tensor? = nil, observer: RunObserver = .silent
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
    // Tabular models: each method's share of relevance per feature (docs/METHODS.md §11.2).
    let features = model.inputShape.count == 1 ? try FeatureSpan.features(of: model) : []
    let x = features.isEmpty ? [] : data.inputs.scalars, width = x.count / max(data.count, 1)
    let rows = (0..<(features.isEmpty ? 0 : data.count)).map { Array(x[($0 * width)..<(($0 + 1) * width)]) }
    for (i, m) in methods.enumerated() {
      let own = maps[m]!
      add("sameness \(m.rawValue)", AuditStatistics.sameness(own, labels: data.labels))
      if !features.isEmpty {
        for (f, share) in zip(features, AuditStatistics.featureShares(own, features: features, inputs: rows)) {
          add("share \(m.rawValue) \(f.name)", share)
        }
      }
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
    if let train { out += try BlackBoxAudit.statistics(model, data: data, train: train, seed: seed) }
    observer.finished("audit statistics")
    return out
  }

  /// Measures the statistics and, with a calibration, scores them.
  public func run() throws -> ManipulationReport {
    guard settings.alpha > 0, settings.alpha < 1 else { throw TrainingError("alpha must lie between 0 and 1, got \(settings.alpha)", settings: ["alpha"]) }
    // A calibration the rule cannot use is refused before anything is measured.
    let calibration = try settings.calibration.map(AuditCalibration.load)
    if settings.rule == .rank, let calibration, calibration.leaveOneOutBound == nil {
      throw TrainingError("the calibration \(settings.calibration!) was made before the rank rule (no leave_one_out_bound): make it again with audit calibrate", settings: ["rule"])
    }
    if settings.rule == .rank, let calibration, 1 / Double(calibration.models.count + 1) > settings.alpha {
      throw TrainingError(
        "the rank rule cannot reach alpha \(settings.alpha) with \(calibration.models.count) calibration models (its smallest p-value is 1/\(calibration.models.count + 1)): calibrate on at least \(Int((1 / settings.alpha).rounded(.up)) - 1)",
        settings: ["rule", "alpha"])
    }
    let (model, data, source) = try SanityCheck.load(
      settings.model, data: settings.data, count: settings.count, datasetsRoot: datasetsRoot, observer: observer)
    guard settings.noise > 0, settings.noise.isFinite else { throw TrainingError("the weight noise must be positive, got \(settings.noise)", settings: ["noise"]) }
    guard settings.beta > 0, settings.beta.isFinite else { throw TrainingError("beta must be positive, got \(settings.beta)", settings: ["beta"]) }
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
    resolved.data = source
    // The default methods that explain this model (LRP has no rule for a scaffold's switch).
    resolved.methods = settings.methods ?? ManipulationSettings.defaultMethods(spatial: model.inputShape.count == 3).filter { m in
      (try? AuditMapSet.explain(model, data.inputs.slice(axis: 0, 0..<1), labels: [data.labels[0]], method: m)) != nil
    }
    if case .dataset(let name) = source {
      try BlackBoxReference.attach(to: [model] + (reference.map { [$0] } ?? []), methods: resolved.methods!, dataset: name, datasetsRoot: datasetsRoot)
    }
    var train: Tensor?
    if settings.blackBox {
      guard model.inputShape.count == 1, let name = try source.catalogueName() else {
        throw TrainingError("the black-box statistics need a tabular model and a catalogue data set or table (its train rows)", settings: ["blackBox"])
      }
      train = try DatasetCatalog.load(name, root: datasetsRoot).train.inputs
    }
    if let calibration {
      try calibration.checkApplies(
        architecture: model.architecture, dataSource: source.label, model: settings.model,
        source: settings.calibration!)
    }
    let statistics = try Self.statistics(
      model, data: data, methods: resolved.methods!, reference: reference, noise: settings.noise, beta: settings.beta, seed: settings.seed,
      train: train, observer: observer)
    var report = ManipulationReport(
      modelfool: ModelFoolVersion.description, settings: resolved, architecture: model.architecture, examples: data.count,
      statistics: statistics, score: nil, scoreStatistic: nil, statisticsTested: nil, threshold: nil, verdict: "uncalibrated")
    report.modelDigest = Checkpoint.digest(of: model)
    guard let calibration else { return report }
    try calibration.checkApplies(to: report, source: settings.calibration!)
    let scored = calibration.score(Dictionary(uniqueKeysWithValues: statistics.map { ($0.name, $0.value) }))
    for i in report.statistics.indices {
      guard let r = calibration.statistics[report.statistics[i].name] else { continue }
      report.statistics[i].cleanMean = r.mean
      report.statistics[i].cleanSD = r.sd
      report.statistics[i].z = (report.statistics[i].value - r.mean) / r.sd
      report.statistics[i].p = scored?.p[report.statistics[i].name]
      report.statistics[i].correctedP = scored?.correctedP[report.statistics[i].name]
    }
    if let scored {
      (report.score, report.scoreStatistic, report.statisticsTested) = (scored.score, scored.statistic, scored.tested)
      report.threshold = settings.alpha
      let rankP = calibration.leaveOneOutBound.map { AuditCalibration.rankP(scored.bound, leaveOneOut: $0) }
      report.rankP = rankP
      let flagged = settings.rule == .rank ? rankP! <= settings.alpha : scored.score < settings.alpha
      report.verdict = flagged ? "manipulated" : "clean"
    }
    return report
  }
}
