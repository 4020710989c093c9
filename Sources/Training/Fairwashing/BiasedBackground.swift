import Foundation
import ModelFool
import ModelFoolData

/// The biased-background attack of Laberge et al., "Fool SHAP with Stealthily Biased Sampling"
/// (ICLR 2023): leave the model alone and choose the rows KernelSHAP explains against, so that the
/// sensitive feature's share of the attributions falls while the background still passes the
/// auditor's two-sample test against the data.
///
/// Implementation note. KernelSHAP's coalition values are means over the background rows
/// (``KernelSHAP``), and for a fixed design its values are a fixed linear map of them, so the
/// values against a multiset of background rows are the weighted mean of the values against each
/// row alone: `phi(x; B) = sum_b (k_b / K) phi(x; b)`, `k_b` the copies of row `b`, `K = sum k_b`.
/// The run computes `phi(x; b)` once per candidate row `b` (``KernelSHAP/values(_:_:classes:options:)``
/// with that row as the background) and then searches over the counts without the model:
///
/// - start: the first ``BiasedBackgroundSettings/size`` candidates once each (a uniform sample of
///   the train rows, the honest background), which must pass the test;
/// - a step adds one copy of the candidate that lowers the share most, then removes one copy of the
///   row whose removal then lowers it most; the swap is kept if the share fell and the background
///   still passes the test, else the next-best removal (up to ``removalsTried``), then the
///   next-best addition (up to ``additionsTried``) is tried;
/// - the search stops when no tried swap is kept, or after ``BiasedBackgroundSettings/maxSteps``.
///
/// The share is `mean_x |phi_s(x)| / sum_i |phi_i(x)|` over the explained rows whose attributions
/// are not all zero (``AuditStatistics/featureShares(_:features:inputs:)``'s rule for one feature
/// group). The test is the weighted two-sample Kolmogorov-Smirnov test (``KolmogorovSmirnov``) of
/// the background against all train rows, once per feature (a numeric feature's value; a one-hot
/// feature's category index) and once on the model's probability of class 1, Bonferroni-corrected:
/// the background passes when every p-value is at least `alpha / T`, `T` the number of tests.
/// Laberge et al. test the model's outputs on the background against the data's; the per-feature
/// tests make the auditor stronger here.
public enum BiasedBackground {
  /// Additions tried per step, best first, and removals tried per addition, before the search
  /// stops.
  public static let additionsTried = 32
  public static let removalsTried = 4

  /// The share of player `s` in the values `phi` `[N, M]` (Float64, row-major): the mean over rows
  /// with some attribution of `|phi_s| / sum_i |phi_i|`; NaN when every row is all zeros.
  public static func share(_ phi: [Double], player s: Int, players m: Int) -> Double {
    var sum = 0.0, rows = 0
    for r in 0..<(phi.count / m) {
      var total = 0.0
      for i in 0..<m { total += abs(phi[r * m + i]) }
      guard total > 0 else { continue }
      sum += abs(phi[r * m + s]) / total
      rows += 1
    }
    return rows == 0 ? .nan : sum / Double(rows)
  }

  /// The auditor's test of a background made of copies of the rows `candidates` against the
  /// `reference` rows: per feature of `players` and on the model's probability of class 1
  /// (`outputs` on the candidates, `referenceOutputs` on the reference rows).
  public struct Auditor {
    /// Per test: the reference distribution and the candidates' values.
    let reference: [KolmogorovSmirnov.Distribution]
    let candidates: [[Double]]
    /// The tests' names: the features', then `model output`.
    public let names: [String]

    /// The tests of `players` (one per feature, then the model output) of backgrounds drawn from
    /// the rows `candidates` `[C, D]` against the rows `reference` `[R, D]`.
    public init(players: [FeatureSpan], reference: Tensor, referenceOutputs: [Float], candidates: Tensor, outputs: [Float]) {
      func values(_ rows: Tensor, _ f: FeatureSpan) -> [Double] {
        let x = rows.scalars, d = rows.shape[1]
        return (0..<rows.shape[0]).map { r in
          if f.categories.isEmpty { return Double(x[r * d + f.start]) }
          let row = f.columns.map { x[r * d + $0] }
          return Double(row.indices.max { row[$0] < row[$1] } ?? 0)
        }
      }
      self.reference = (players.map { values(reference, $0) } + [referenceOutputs.map(Double.init)]).map { KolmogorovSmirnov.Distribution($0) }
      self.candidates = players.map { values(candidates, $0) } + [outputs.map(Double.init)]
      names = players.map(\.name) + ["model output"]
    }

    /// Number of tests `T`.
    public var tests: Int { names.count }

    /// Each test's result for the background of `counts` copies of the candidates.
    public func results(_ counts: [Int]) -> [KolmogorovSmirnov.Result] {
      let weights = counts.map(Double.init), total = counts.reduce(0, +)
      return zip(candidates, reference).map { KolmogorovSmirnov.test(KolmogorovSmirnov.Distribution($0.0, weights: weights, count: total), $0.1) }
    }

    /// The test with the smallest p-value: its name, result and Bonferroni-corrected p-value
    /// `min(1, T p)`.
    public func worst(_ counts: [Int]) -> BackgroundTest {
      let r = results(counts)
      let i = r.indices.min { r[$0].p < r[$1].p }!
      return BackgroundTest(feature: names[i], statistic: r[i].statistic, p: r[i].p, correctedP: min(1, Double(tests) * r[i].p), tests: tests)
    }
  }

  /// The counts search of the implementation note over the per-candidate values `phi` (`[C]`
  /// arrays of `[N, M]`, Float64), starting from `start`; returns the counts after every kept
  /// swap (the first entry is `start`). `passes` is the auditor's verdict on counts. The share is
  /// scale-free, so sums of values stand for means.
  public static func search(
    phi: [[Double]], player s: Int, players m: Int, start: [Int], maxSteps: Int, passes: ([Int]) -> Bool
  ) -> [[Int]] {
    let c = phi.count, n = phi.first?.count ?? 0
    var counts = start
    var sum = [Double](repeating: 0, count: n)
    for b in 0..<c where counts[b] > 0 { for j in 0..<n { sum[j] += Double(counts[b]) * phi[b][j] } }
    var current = share(sum, player: s, players: m), path = [counts]
    for _ in 0..<maxSteps {
      let additions = (0..<c).map { b in (b, share(zip(sum, phi[b]).map { $0 + $1 }, player: s, players: m)) }
        .filter { !$0.1.isNaN }.sorted { $0.1 < $1.1 }
      var kept = false
      search: for (a, _) in additions.prefix(additionsTried) {
        let added = zip(sum, phi[a]).map { $0 + $1 }
        let removals = (0..<c).filter { counts[$0] > 0 && $0 != a }
          .map { r in (r, share(zip(added, phi[r]).map { $0 - $1 }, player: s, players: m)) }
          .filter { !$0.1.isNaN && $0.1 < current - 1e-12 }.sorted { $0.1 < $1.1 }
        for (r, value) in removals.prefix(removalsTried) {
          var next = counts
          next[a] += 1
          next[r] -= 1
          guard passes(next) else { continue }
          counts = next
          sum = zip(added, phi[r]).map { $0 - $1 }
          current = value
          path.append(counts)
          kept = true
          break search
        }
      }
      if !kept { break }
    }
    return path
  }
}

/// The auditor's test result on one background.
public struct BackgroundTest: Codable, Sendable, Equatable {
  /// The test with the smallest p-value: a feature name or `model output`.
  public var feature: String
  /// Its Kolmogorov-Smirnov statistic `D` and p-value.
  public var statistic: Double
  public var p: Double
  /// `min(1, T p)`: the background passes when this is at least alpha.
  public var correctedP: Double
  /// `T`, the number of tests.
  public var tests: Int
}

/// The settings of a biased-background run (``BiasedBackgroundRun``), stored in its report.
public struct BiasedBackgroundSettings: Codable, Sendable {
  /// Catalogue data set (or registered table).
  public var dataset = "compas"
  /// The explained model (a ``ModelReference`` argument); nil: the data set's base model.
  public var model: String? = nil
  /// The sensitive feature (a feature group name); nil: the data set profile's first hidden one.
  public var sensitive: String? = nil
  /// Explained rows: the first of the test split.
  public var explainedRows = 100
  /// Candidate background rows: train rows drawn without replacement (seeded).
  public var candidates = 200
  /// Background rows `K` (with repetitions); the honest background is the first `size` candidates.
  public var size = 100
  /// The auditor's level: the background must pass every test at `alpha / T`.
  public var alpha = 0.05
  /// KernelSHAP's sampled coalitions beyond 12 players.
  public var coalitions = 512
  /// The most swaps.
  public var maxSteps = 2000
  /// Seeds the candidates and KernelSHAP's design.
  public var seed: UInt64 = 0

  public init() {}

  func check() throws {
    for (name, value, low, high) in [
      ("explainedRows", explainedRows, 1, 10_000), ("candidates", candidates, 2, 10_000), ("size", size, 1, 10_000),
      ("coalitions", coalitions, 2, 100_000), ("maxSteps", maxSteps, 0, 1_000_000),
    ] where value < low || value > high {
      throw TrainingError("biased background: \(name) is \(value), expected \(low) ... \(high)", settings: [name])
    }
    guard size < candidates else {
      throw TrainingError("biased background: the background (\(size) rows) must be smaller than the candidates (\(candidates))", settings: ["size", "candidates"])
    }
    guard alpha > 0, alpha < 1 else { throw TrainingError("alpha must lie between 0 and 1, got \(alpha)", settings: ["alpha"]) }
  }
}

/// What a biased-background run measured.
public struct BiasedBackgroundReport: Codable, Sendable {
  /// The settings used.
  public var settings: BiasedBackgroundSettings
  /// The model explained (architecture) and the sensitive feature.
  public var architecture: String
  public var sensitiveFeature: String
  public var players: Int
  /// Train rows the test compares with.
  public var referenceRows: Int
  /// The share with the honest background and with the chosen one, and the relative drop
  /// `1 - after / before`.
  public var shareBefore: Double
  public var shareAfter: Double
  public var drop: Double
  /// The test on both backgrounds.
  public var testBefore: BackgroundTest
  public var testAfter: BackgroundTest
  /// Swaps kept, and distinct candidate rows in the chosen background.
  public var steps: Int
  public var distinctRows: Int
  /// Wall time of the run.
  public var seconds: Double

  /// Text: one paragraph.
  public var text: String {
    let s = settings
    return [
      "biased background on \(s.dataset) (\(architecture), seed \(s.seed)): KernelSHAP of \(s.explainedRows) test rows against \(s.size) of \(s.candidates) candidate train rows",
      String(format: "share of %@ (|phi_s| / sum |phi|, mean over rows): %.4f honest -> %.4f chosen (%.1f%% lower), %d swaps, %d distinct rows",
             sensitiveFeature, shareBefore, shareAfter, drop * 100, steps, distinctRows),
      String(format: "auditor's test (two-sample Kolmogorov-Smirnov against the %d train rows, per feature and on the model output, %d tests, Bonferroni, alpha %.3g):",
             referenceRows, testAfter.tests, s.alpha),
      String(format: "  honest background: worst %@, D %.4f, p %.4g, corrected %.4g", testBefore.feature, testBefore.statistic, testBefore.p, testBefore.correctedP),
      String(format: "  chosen background: worst %@, D %.4f, p %.4g, corrected %.4g (%@)", testAfter.feature, testAfter.statistic, testAfter.p,
             testAfter.correctedP, testAfter.correctedP >= s.alpha ? "passes" : "fails"),
      String(format: "finished in %.1f s", seconds),
    ].joined(separator: "\n")
  }
}

/// A biased-background run: computes each candidate row's KernelSHAP values, searches the counts
/// (``BiasedBackground``) and reports the share and the test before and after.
public struct BiasedBackgroundRun {
  public var settings: BiasedBackgroundSettings
  public var datasetsRoot: String
  public var observer: RunObserver

  /// A run of `settings` on the catalogue under `datasetsRoot`, reporting to `observer`.
  public init(settings: BiasedBackgroundSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// The report, the honest and the chosen background rows, and the explained rows.
  public struct Outcome {
    public var report: BiasedBackgroundReport
    public var honest: Tensor
    public var chosen: Tensor
    public var explained: Tensor
    /// The explanation options (design, seed) the shares were computed with, background apart.
    public var options: ExplanationOptions
    public var model: Model
  }

  /// Loads the data set and the model, then ``attack(_:split:settings:observer:start:)``.
  public func run() throws -> Outcome {
    let start = Date()
    try settings.check()
    let split = try DatasetCatalog.load(settings.dataset, root: datasetsRoot)
    let reference = settings.model.map { ModelReference(parsing: $0) } ?? .baseModel(dataset: settings.dataset, biased: false)
    let model = try reference.resolve(datasetsRoot: datasetsRoot, log: observer.message)
    model.setTraining(false)
    return try Self.attack(model, split: split, settings: settings, observer: observer, start: start)
  }

  /// The attack on `model` with the rows of `split`.
  public static func attack(
    _ model: Model, split: DatasetSplit, settings: BiasedBackgroundSettings, observer: RunObserver = .silent, start: Date = Date()
  ) throws -> Outcome {
    try settings.check()
    let (train, test) = (split.train, split.test)
    try ModelInputs.checkShape(train.inputs, for: model, source: "data set \(train.name)")
    var players = try FeatureSpan.features(of: model)
    if players.isEmpty { players = train.features }
    guard let name = settings.sensitive ?? DatasetProfile.of(train.name).hidden?.first else {
      throw TrainingError("biased background: name the sensitive feature of \(train.name)", settings: ["sensitive"])
    }
    guard let s = players.firstIndex(where: { $0.name == name }) else {
      throw TrainingError("sensitive feature '\(name)' is not a feature of the model (features: \(players.map(\.name).joined(separator: ", ")))", settings: ["sensitive"])
    }
    guard settings.candidates <= train.count else {
      throw TrainingError("biased background: \(settings.candidates) candidates but \(train.count) train rows", settings: ["candidates"])
    }
    let n = min(settings.explainedRows, test.count), m = players.count
    let x = test.inputs.slice(axis: 0, 0..<n)
    var generator = SeededGenerator(seed: settings.seed &+ 3)
    var order = Array(0..<train.count)
    for i in 0..<settings.candidates { order.swapAt(i, i + Int(generator.next() % UInt64(train.count - i))) }
    let candidates = train.inputs.selectingRows(Array(order[..<settings.candidates]))
    var options = ExplanationOptions()
    options.seed = settings.seed
    options.blackBox.coalitions = settings.coalitions
    options.createGraph = false
    // Each candidate's values, [N, M] in Float64.
    var phi: [[Double]] = []
    for b in 0..<settings.candidates {
      var o = options
      o.blackBox.background = candidates.slice(axis: 0, b..<(b + 1))
      phi.append(try withoutRecording { try KernelSHAP.values(model, x, classes: nil, options: o).values.scalars.map(Double.init) })
      observer.progress(RunProgress(task: "kernelshap per candidate row", done: b + 1, total: settings.candidates))
    }
    observer.finished("kernelshap per candidate row")
    func probabilityOfClass1(_ rows: Tensor) -> [Float] {
      let p = withoutRecording { model(rows).softmax(alongAxis: -1) }
      let k = p.shape[1], values = p.scalars
      return (0..<rows.shape[0]).map { values[$0 * k + min(1, k - 1)] }
    }
    let auditor = BiasedBackground.Auditor(
      players: players, reference: train.inputs, referenceOutputs: probabilityOfClass1(train.inputs), candidates: candidates,
      outputs: probabilityOfClass1(candidates))
    let initial = (0..<settings.candidates).map { $0 < settings.size ? 1 : 0 }
    let testBefore = auditor.worst(initial)
    guard testBefore.correctedP >= settings.alpha else {
      throw TrainingError(String(format: "biased background: the honest background already fails the test (%@, corrected p %.3g); draw other candidates (--seed)", testBefore.feature, testBefore.correctedP), settings: ["seed"])
    }
    let path = BiasedBackground.search(phi: phi, player: s, players: m, start: initial, maxSteps: settings.maxSteps) {
      auditor.worst($0).correctedP >= settings.alpha
    }
    let counts = path.last!
    func mean(_ c: [Int]) -> [Double] {
      let k = Double(c.reduce(0, +))
      var v = [Double](repeating: 0, count: n * m)
      for b in c.indices where c[b] > 0 { for j in v.indices { v[j] += Double(c[b]) * phi[b][j] / k } }
      return v
    }
    let before = BiasedBackground.share(mean(initial), player: s, players: m)
    let after = BiasedBackground.share(mean(counts), player: s, players: m)
    func rows(_ c: [Int]) -> Tensor { candidates.selectingRows(c.indices.flatMap { [Int](repeating: $0, count: c[$0]) }) }
    let report = BiasedBackgroundReport(
      settings: settings, architecture: model.architecture, sensitiveFeature: players[s].name, players: m, referenceRows: train.count,
      shareBefore: before, shareAfter: after, drop: before > 0 ? 1 - after / before : 0, testBefore: testBefore,
      testAfter: auditor.worst(counts), steps: path.count - 1, distinctRows: counts.filter { $0 > 0 }.count,
      seconds: Date().timeIntervalSince(start))
    return Outcome(report: report, honest: rows(initial), chosen: rows(counts), explained: x, options: options, model: model)
  }
}

extension BiasedBackgroundRun.Outcome {
  /// Writes `report.json`, `report.txt`, and the honest and chosen backgrounds as CSV rows of
  /// numbers (`honest.csv`, `background.csv`; `modelfool explain --background FILE` reads them)
  /// into `folder`, all or nothing.
  public func write(to folder: String) throws {
    func csv(_ t: Tensor) -> String {
      let d = t.shape[1], x = t.scalars
      return (0..<t.shape[0]).map { r in (0..<d).map { String(format: "%.9g", x[r * d + $0]) }.joined(separator: ",") }.joined(separator: "\n") + "\n"
    }
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText(try RunJSON.encode(report) + "\n", to: staging + "/report.json")
      try RunOutputs.writeText(report.text + "\n", to: staging + "/report.txt")
      try RunOutputs.writeText(csv(honest), to: staging + "/honest.csv")
      try RunOutputs.writeText(csv(chosen), to: staging + "/background.csv")
    }
  }
}
