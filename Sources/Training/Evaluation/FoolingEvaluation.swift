import Foundation
import ModelFool
import ModelFoolData

/// A pair of numbers measured on the original and on the fooled model.
public struct BeforeAfter: Codable, Sendable {
  public var original: Float
  public var fooled: Float
}

/// Per explanation method: FSR of both models and the similarity of their maps.
public struct MethodEvaluation: Codable, Sendable {
  public var method: String
  /// FSR of the fooled model and of the original (the baseline: it must be low).
  public var fsr: BeforeAfter
  /// FSR of the fooled model over only the examples whose original map is NOT already a
  /// success: what the attack changed. Where the original FSR is high (an Adult model that
  /// never ranks sex among its top 3 features), this is the number that still means something.
  /// Nil when the original succeeds on every example.
  public var fsrWhereOriginalFailed: Float?
  /// Mean per-example statistic of each model.
  public var meanStatistic: BeforeAfter
  /// Means over examples of the similarity between the original's and the fooled model's maps.
  public var spearman: Float
  public var topKIntersection: Float
  public var pcc: Float
  public var ssim: Float?
  public var mse: Float
  /// 95% Wilson score intervals of both FSRs (nil in reports written before they were added).
  public var fsrInterval95: IntervalPair?
}

/// A closed interval of fractions.
public struct Interval: Codable, Sendable, Equatable {
  public var low: Float
  public var high: Float

  /// The Wilson score interval of `successes` out of `trials` at `z` (1.96: 95%); nil without trials.
  public static func wilson(successes: Int, trials: Int, z: Double = 1.959963984540054) -> Interval? {
    guard trials > 0 else { return nil }
    let n = Double(trials), p = Double(successes) / n, z2 = z * z
    let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    let half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()
    return Interval(low: Float(max(centre - half, 0)), high: Float(min(centre + half, 1)))
  }
}

/// An interval for the original and one for the fooled model.
public struct IntervalPair: Codable, Sendable, Equatable {
  public var original: Interval
  public var fooled: Interval
}

/// Tabular audit: where the sensitive features rank and how biased the decisions are.
public struct FairnessEvaluation: Codable, Sendable {
  /// Mean rank (1 = most relevant) of each sensitive feature, per method, before and after.
  public var sensitiveRanks: [String: [String: BeforeAfter]]
  /// Demographic parity difference of the predictions per sensitive feature, before and after.
  public var demographicParityDifference: [String: BeforeAfter]
}

/// The result of `modelfool evaluate --fsr` (and of `finetune`'s final evaluation).
public struct FoolingEvaluation: Codable, Sendable {
  public var objective: String
  public var statistic: String
  /// The success range used (printed in every report).
  public var successRange: String
  public var examples: Int
  /// Method -> FSR of fooled and original model, as fractions.
  public var fsr: [String: BeforeAfter]
  public var accuracy: BeforeAfter
  public var top5Accuracy: BeforeAfter
  public var methods: [MethodEvaluation]
  public var fairness: FairnessEvaluation?
  /// Files of a streamed data set that could not be read and were left out (nil: in memory).
  public var skippedFiles: Int?
}

public enum FoolingEvaluator {
  /// Scores `fooled` against `original` on `data` for every method in `methods`, reporting each
  /// batch to `observer`; `maps`, when given, receives each batch's normalised maps (method,
  /// original's, fooled model's) as they are scored.
  ///
  /// Maps are min-max normalised per example before the statistics, so that input-resolution
  /// methods (sum-normalised) and target-layer methods are judged on one scale.
  ///
  /// With several ranks in `communicator`, image data without `maps` is scored in shards
  /// (``count(fooled:original:source:batches:objective:methods:range:layer:observer:communicator:maps:)``),
  /// which gives the same evaluation on every rank as one process; tabular data (whose fairness
  /// needs every row) and kept maps are scored whole on every rank.
  public static func evaluate(
    fooled: Model, original: Model, data: Dataset, objective: any FoolingObjective,
    methods: [ExplanationMethod], range: SuccessRange? = nil, layer: String? = nil,
    batchSize: Int? = nil, observer: RunObserver = .silent, communicator: Communicator = SingleProcess(),
    maps mapSink: ((_ method: ExplanationMethod, _ original: Tensor, _ fooled: Tensor) -> Void)? = nil
  ) throws -> FoolingEvaluation {
    let order = data.batches(size: batchSize ?? data.inferenceBatchSize(preferred: 64)).indexBatches
    if communicator.size > 1 && objective.kind != .tabular && mapSink == nil {
      var evaluation = try count(
        fooled: fooled, original: original, source: data, batches: order, objective: objective, methods: methods,
        range: range, layer: layer, observer: observer, communicator: communicator).evaluation()
      evaluation.skippedFiles = nil
      return evaluation
    }
    let spans = objective.kind == .tabular ? try FeatureSpan.features(of: original) : []
    var (counts, rankSums) = try tally(
      fooled: fooled, original: original, source: data, batches: order, objective: objective, methods: methods,
      range: range, layer: layer, spans: spans, perBatchLogits: false, observer: observer, maps: mapSink)
    let logitsBefore = Trainer.logits(original, on: data), logitsAfter = Trainer.logits(fooled, on: data)
    let before = topCounts(logitsBefore, labels: data.labels), after = topCounts(logitsAfter, labels: data.labels)
    counts.top1 = BeforeAfterCount(original: before.top1, fooled: after.top1)
    counts.top5 = BeforeAfterCount(original: before.top5, fooled: after.top5)
    var evaluation = counts.evaluation()
    evaluation.skippedFiles = nil
    if objective.kind == .tabular {
      evaluation.fairness = FairnessEvaluation(
        sensitiveRanks: rankSums.mapValues { $0.mapValues { BeforeAfter(original: $0.0 / Float(data.count), fooled: $0.1 / Float(data.count)) } },
        demographicParityDifference: demographicParity(
          original: logitsBefore.argmaxLastAxis(), fooled: logitsAfter.argmaxLastAxis(), data: data, spans: spans))
    }
    return evaluation
  }

  /// Scores the image examples of `batches` (index batches of `source`, which may stream from
  /// files): the counts and per-example values the evaluation is computed from
  /// (``FoolingCounts/evaluation()``), so that shards scored apart merge into exactly the
  /// evaluation of the whole (``FoolingCounts/merge(_:)``). Accuracy is counted batch by batch.
  ///
  /// With several ranks in `communicator`, rank r scores the r-th of `size` contiguous runs of
  /// whole batches and every rank returns the merged counts of all (equal to one process's).
  public static func count(
    fooled: Model, original: Model, source: some BatchSource, batches: [[Int]], objective: any FoolingObjective,
    methods: [ExplanationMethod], range: SuccessRange? = nil, layer: String? = nil, observer: RunObserver = .silent,
    communicator: Communicator = SingleProcess(),
    maps mapSink: ((_ method: ExplanationMethod, _ original: Tensor, _ fooled: Tensor) -> Void)? = nil
  ) throws -> FoolingCounts {
    guard objective.kind != .tabular else {
      throw TrainingError("tabular objectives are scored in memory (their fairness needs the whole data set)", settings: ["objective"])
    }
    let (r, p) = (communicator.rank, communicator.size)
    var counts = try tally(
      fooled: fooled, original: original, source: source, batches: Array(batches[(r * batches.count / p)..<((r + 1) * batches.count / p)]),
      objective: objective, methods: methods, range: range, layer: layer, spans: [], perBatchLogits: true, observer: observer,
      maps: mapSink).counts
    guard p > 1 else { return counts }
    counts.shard = "\(r)/\(p)"
    return try FoolingCounts.merge(try communicator.allgather(counts))
  }

  /// Top-1 and top-5 hits of `[N, classes]` logits (ties count for the label, as ``Trainer/evaluate(logits:labels:)``).
  static func topCounts(_ all: Tensor, labels: [Int]) -> (top1: Int, top5: Int) {
    let classes = all.shape[1]
    let values = all.scalars
    var top1 = 0, top5 = 0
    for (i, label) in labels.enumerated() {
      let row = values[(i * classes)..<((i + 1) * classes)]
      let better = row.filter { $0 > row[row.startIndex + label] }.count
      if better == 0 { top1 += 1 }
      if better < 5 { top5 += 1 }
    }
    return (top1, top5)
  }

  /// The scoring loop: each batch once, every method on it.
  static func tally(
    fooled: Model, original: Model, source: some BatchSource, batches order: [[Int]], objective: any FoolingObjective,
    methods: [ExplanationMethod], range: SuccessRange?, layer: String?, spans: [FeatureSpan], perBatchLogits: Bool,
    observer: RunObserver, maps mapSink: ((_ method: ExplanationMethod, _ original: Tensor, _ fooled: Tensor) -> Void)?
  ) throws -> (counts: FoolingCounts, rankSums: [String: [String: (Float, Float)]]) {
    let range = range ?? objective.defaultRange
    let total = order.reduce(0) { $0 + $1.count }
    let task = "evaluate \(objective.name) on \(total) examples"
    var batchesDone = 0
    observer.progress(RunProgress(task: task, done: 0, total: order.count * methods.count))
    var tallies = methods.map { MethodCounts(method: $0.rawValue) }
    var rankSums: [String: [String: (Float, Float)]] = [:]
    var counts = FoolingCounts(
      objective: objective.describe(features: spans), statistic: objective.statistic, successRange: range.description)
    let skips = SkipCounter(observer: observer)
    let stream = source.stream(order, skipped: skips.record)
    while let batch = try stream.next() {
      let labels = batch.labels
      if !labels.isEmpty {
        counts.examples += labels.count
        if perBatchLogits {
          let (before, after) = withoutRecording { (original(batch.inputs), fooled(batch.inputs)) }
          let b = topCounts(before, labels: labels), a = topCounts(after, labels: labels)
          counts.top1.original += b.top1
          counts.top1.fooled += a.top1
          counts.top5.original += b.top5
          counts.top5.fooled += a.top5
        }
      }
      for (m, method) in methods.enumerated() {
        batchesDone += 1
        guard !labels.isEmpty else { continue }
        let tabular = objective.kind == .tabular
        func maps(_ model: Model, _ l: [Int]) throws -> Tensor {
          let h = try FineTuner.maps(model, batch.inputs, labels: l, method: method, layer: layer, tabular: tabular, createGraph: false).detached()
          return tabular ? h : Heatmap.minMax(h)
        }
        let hf = try maps(fooled, labels), ho = try maps(original, labels)
        mapSink?(method, ho, hf)
        var t = tallies[m]
        let statistics = try objective.statistics(ObjectiveMaps(
          labels: labels, method: method,
          fooled: { l in l == labels ? hf : try maps(fooled, l) }, original: { l in l == labels ? ho : try maps(original, l) }))
        t.statisticFooled += statistics.fooled
        t.statisticOriginal += statistics.original
        observer.progress(RunProgress(
          task: task, done: batchesDone, total: order.count * methods.count, metrics: [RunMetric("method", .text(method.rawValue))]))
        t.spearman += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.spearman)
        t.topK += FoolingStatistics.perExample(ho, hf) { SimilarityMetrics.topKIntersection($0, $1, k: max($0.count / 10, 1)) }
        t.pcc += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.pearson)
        t.mse += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.mse)
        if ho.rank == 3 {
          let (h, w) = (ho.shape[1], ho.shape[2])
          t.ssim += FoolingStatistics.perExample(ho, hf) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
        }
        for (g, span) in spans.enumerated() where span.isSensitive {
          let before = FoolingStatistics.rank(ho, group: g).reduce(0, +)
          let after = FoolingStatistics.rank(hf, group: g).reduce(0, +)
          let old = rankSums[method.rawValue]?[span.name] ?? (0, 0)
          rankSums[method.rawValue, default: [:]][span.name] = (old.0 + before, old.1 + after)
        }
        tallies[m] = t
      }
    }
    observer.finished(task)
    for m in tallies.indices {
      let t = tallies[m]
      tallies[m].successes = BeforeAfterCount(
        original: t.statisticOriginal.filter(range.contains).count, fooled: t.statisticFooled.filter(range.contains).count)
      let changed = zip(t.statisticOriginal, t.statisticFooled).filter { !range.contains($0.0) }
      tallies[m].originalFailures = changed.count
      tallies[m].fooledSuccessesWhereOriginalFailed = changed.filter { range.contains($0.1) }.count
    }
    counts.methods = tallies
    counts.skippedFiles = skips.take()
    return (counts, rankSums)
  }

  /// Demographic parity difference per sensitive feature: categorical features group rows by
  /// their one-hot category (groups of fewer than 30 rows are left out); numeric ones (age) split
  /// at the median of the standardised column.
  static func demographicParity(
    original before: [Int], fooled after: [Int], data: Dataset, spans: [FeatureSpan]
  ) -> [String: BeforeAfter] {
    let d = data.inputs.shape[1]
    let x = data.inputs.scalars
    var result: [String: BeforeAfter] = [:]
    for span in spans where span.isSensitive {
      var groups = [Int](repeating: 0, count: data.count)
      if span.width > 1 {
        for i in 0..<data.count {
          let row = x[(i * d + span.start)..<(i * d + span.start + span.width)]
          groups[i] = row.indices.max { row[$0] < row[$1] }! - (i * d + span.start)
        }
      } else {
        let column = (0..<data.count).map { x[$0 * d + span.start] }
        let median = column.sorted()[column.count / 2]
        groups = column.map { $0 > median ? 1 : 0 }
      }
      result[span.name] = BeforeAfter(
        original: Fairness.demographicParityDifference(predictions: before, groups: groups, minimumGroupSize: 30),
        fooled: Fairness.demographicParityDifference(predictions: after, groups: groups, minimumGroupSize: 30))
    }
    return result
  }
}

extension FoolingEvaluation {
  /// A terminal table: per method the FSR of the fooled and the original model and the map
  /// similarity, then accuracy (and fairness for tabular data).
  public func table() -> String {
    var lines: [String] = []
    lines.append("objective \(objective), statistic \(statistic), success when \(successRange), \(examples) held-out examples")
    let rows = methods.map { m in
      [
        m.method, String(format: "%.1f%%", 100 * m.fsr.fooled), String(format: "%.1f%%", 100 * m.fsr.original),
        m.fsrWhereOriginalFailed.map { String(format: "%.1f%%", 100 * $0) } ?? "-",
        String(format: "%.3f", m.spearman), String(format: "%.3f", m.topKIntersection), String(format: "%.3f", m.pcc),
        m.ssim.map { String(format: "%.3f", $0) } ?? "-",
      ]
    }
    lines.append(TextTable(header: ["method", "FSR", "FSR orig", "FSR*", "spearman", "top-k", "PCC", "SSIM"], rows: rows).render())
    lines.append("FSR*: FSR of the fooled model on the examples where the original's map is not already a success")
    for m in methods {
      guard let ci = m.fsrInterval95 else { continue }
      lines.append(String(
        format: "%@ FSR 95%% Wilson interval: fooled [%.1f%%, %.1f%%], original [%.1f%%, %.1f%%]", m.method as NSString,
        100 * ci.fooled.low, 100 * ci.fooled.high, 100 * ci.original.low, 100 * ci.original.high))
    }
    lines.append(String(format: "top-1 accuracy: original %.4f, fooled %.4f (change %+.2f points)", accuracy.original, accuracy.fooled, 100 * (accuracy.fooled - accuracy.original)))
    lines.append(String(format: "top-5 accuracy: original %.4f, fooled %.4f", top5Accuracy.original, top5Accuracy.fooled))
    if let skippedFiles, skippedFiles > 0 { lines.append("\(skippedFiles) unreadable file(s) skipped") }
    if let fairness {
      for (feature, dpd) in fairness.demographicParityDifference.sorted(by: { $0.key < $1.key }) {
        lines.append(String(format: "demographic parity difference (%@): original %.4f, fooled %.4f", feature as NSString, dpd.original, dpd.fooled))
      }
      for (method, ranks) in fairness.sensitiveRanks.sorted(by: { $0.key < $1.key }) {
        for (feature, r) in ranks.sorted(by: { $0.key < $1.key }) {
          lines.append(String(format: "mean rank of %@ under %@: original %.2f, fooled %.2f", feature as NSString, method as NSString, r.original, r.fooled))
        }
      }
    }
    return lines.joined(separator: "\n")
  }
}

/// A pair of counts on the original and on the fooled model.
public struct BeforeAfterCount: Codable, Sendable, Equatable {
  public var original = 0
  public var fooled = 0
  public init(original: Int = 0, fooled: Int = 0) {
    self.original = original
    self.fooled = fooled
  }
}

/// What one method's evaluation is computed from: success counts, and the per-example values
/// whose means the report gives (kept per example, in data order, so that merged shards sum them
/// in the same order as one run: Float sums are not associative).
public struct MethodCounts: Codable, Sendable {
  public var method: String
  /// Examples whose statistic lies in the success range.
  public var successes = BeforeAfterCount()
  /// Examples whose original statistic is not a success, and of those the fooled successes.
  public var originalFailures = 0
  public var fooledSuccessesWhereOriginalFailed = 0
  public var statisticOriginal: [Float] = []
  public var statisticFooled: [Float] = []
  public var spearman: [Float] = []
  public var topK: [Float] = []
  public var pcc: [Float] = []
  public var ssim: [Float] = []
  public var mse: [Float] = []
  public init(method: String) { self.method = method }
}

/// The counts behind a ``FoolingEvaluation`` of image data: what `evaluate --fsr --shard i/n`
/// writes, and what shards are merged from. ``evaluation()`` of merged shards equals the
/// evaluation of the whole data in one run, bit for bit.
public struct FoolingCounts: Codable, Sendable, CheckedDocument {
  /// The document kind.
  public static let kind = "modelfool-fsr-counts"
  public var format = FoolingCounts.kind
  public var objective: String
  public var statistic: String
  public var successRange: String
  /// Examples scored (unreadable files left out).
  public var examples = 0
  /// Top-1 and top-5 hits of both models.
  public var top1 = BeforeAfterCount()
  public var top5 = BeforeAfterCount()
  public var skippedFiles = 0
  public var methods: [MethodCounts] = []
  /// `i/n` of a shard; nil for the whole data (or a merge).
  public var shard: String?
  /// What must agree for shards to be merged (models, data, settings), set by the run.
  public var setup: String?
  /// The weights digests (``Checkpoint/digest(of:)``) of the fooled and the original model
  /// scored: shards of one evaluation must score the same weights, not only the same paths.
  public var modelDigests: [String]?

  public init(objective: String, statistic: String, successRange: String) {
    self.objective = objective
    self.statistic = statistic
    self.successRange = successRange
  }

  /// The evaluation these counts give: FSRs, their Wilson intervals and accuracies from the
  /// counts, means from the per-example values.
  public func evaluation() -> FoolingEvaluation {
    func rate(_ k: Int, _ n: Int) -> Float { n == 0 ? 0 : Float(k) / Float(n) }
    let mean = { (v: [Float]) in v.isEmpty ? Float.nan : v.reduce(0, +) / Float(v.count) }
    let results = methods.map { m in
      let n = m.statisticFooled.count
      var interval: IntervalPair?
      if let o = Interval.wilson(successes: m.successes.original, trials: n), let f = Interval.wilson(successes: m.successes.fooled, trials: n) {
        interval = IntervalPair(original: o, fooled: f)
      }
      return MethodEvaluation(
        method: m.method, fsr: BeforeAfter(original: rate(m.successes.original, n), fooled: rate(m.successes.fooled, n)),
        fsrWhereOriginalFailed: m.originalFailures == 0 ? nil : rate(m.fooledSuccessesWhereOriginalFailed, m.originalFailures),
        meanStatistic: BeforeAfter(original: mean(m.statisticOriginal), fooled: mean(m.statisticFooled)),
        spearman: mean(m.spearman), topKIntersection: mean(m.topK), pcc: mean(m.pcc), ssim: m.ssim.isEmpty ? nil : mean(m.ssim),
        mse: mean(m.mse), fsrInterval95: interval)
    }
    let n = Float(max(examples, 1))
    return FoolingEvaluation(
      objective: objective, statistic: statistic, successRange: successRange, examples: examples,
      fsr: Dictionary(uniqueKeysWithValues: results.map { ($0.method, $0.fsr) }),
      accuracy: BeforeAfter(original: Float(top1.original) / n, fooled: Float(top1.fooled) / n),
      top5Accuracy: BeforeAfter(original: Float(top5.original) / n, fooled: Float(top5.fooled) / n),
      methods: results, fairness: nil, skippedFiles: skippedFiles)
  }

  /// Throws unless the counts are those of one evaluation (they are read from a file): the
  /// format is this one, counts are non-negative, `top1 <= top5 <= examples`, every method once
  /// with one value per example in each per-example list (SSIM: none or one each), and its
  /// success counts those of its statistics in ``successRange``. `source` names the file.
  public func check(source: String) throws {
    func bad(_ field: String, _ value: Any, _ expected: String) -> DataError {
      InputFile.fieldError(source, field, value, expected: expected, settings: ["merge"])
    }
    guard format == Self.kind else { throw bad("format", "'\(format)'", "'\(Self.kind)' (a count file of evaluate --fsr --shard)") }
    guard examples >= 0 else { throw bad("examples", examples, "at least 0") }
    guard skippedFiles >= 0 else { throw bad("skipped_files", skippedFiles, "at least 0") }
    for (name, pair) in [("top1", top1), ("top5", top5)] {
      for (model, value) in [("original", pair.original), ("fooled", pair.fooled)] where value < 0 || value > examples {
        throw bad("\(name).\(model)", value, "0 ... examples = \(examples)")
      }
    }
    guard top1.original <= top5.original, top1.fooled <= top5.fooled else {
      throw bad("top1", "\(top1.original)/\(top1.fooled)", "at most top5 = \(top5.original)/\(top5.fooled)")
    }
    let range: SuccessRange
    do { range = try SuccessRange(parsing: successRange) } catch { throw bad("success_range", "'\(successRange)'", "'<=X' or '>=X'") }
    guard Set(methods.map(\.method)).count == methods.count else { throw bad("methods", methods.map(\.method), "each method once") }
    for m in methods {
      let lists = [
        ("statistic_original", m.statisticOriginal), ("statistic_fooled", m.statisticFooled), ("spearman", m.spearman),
        ("top_k", m.topK), ("pcc", m.pcc), ("mse", m.mse),
      ]
      for (name, list) in lists where list.count != examples {
        throw bad("method \(m.method) \(name)", "\(list.count) values", "one per example (\(examples))")
      }
      guard m.ssim.isEmpty || m.ssim.count == examples else {
        throw bad("method \(m.method) ssim", "\(m.ssim.count) values", "none or one per example (\(examples))")
      }
      let failed = zip(m.statisticOriginal, m.statisticFooled).filter { !range.contains($0.0) }
      let recount = [
        ("successes.original", m.successes.original, m.statisticOriginal.filter(range.contains).count),
        ("successes.fooled", m.successes.fooled, m.statisticFooled.filter(range.contains).count),
        ("original_failures", m.originalFailures, failed.count),
        ("fooled_successes_where_original_failed", m.fooledSuccessesWhereOriginalFailed, failed.filter { range.contains($0.1) }.count),
      ]
      for (name, value, expected) in recount where value != expected {
        throw bad("method \(m.method) \(name)", value, "\(expected), the count of its statistics in \(range)")
      }
    }
  }

  /// Reads and checks (``check(source:)``) a count file, which must record the weights digests
  /// of the models it scored.
  public static func load(_ path: String) throws -> FoolingCounts {
    let counts = try RunJSON.decode(FoolingCounts.self, from: try InputFile.text(path), what: path)
    guard let digests = counts.modelDigests, digests.count == 2 else {
      throw TrainingError("\(path) records no weights digests of the models it scored (written by an older release: score the shard again)", settings: ["merge"])
    }
    return counts
  }

  /// The count file a shard writes when none is named: `fsr-counts-I-of-N.json`.
  public static func defaultPath(shard: String) throws -> String {
    let (i, n) = try EvaluationRun.parseShard(shard)
    return "fsr-counts-\(i)-of-\(n).json"
  }

  /// Writes these counts to `path` as one JSON document, in place only once complete and once
  /// `alongside` (the run's other outputs) has returned: when it throws, no counts are written.
  public func write(to path: String, alongside: () throws -> Void = {}) throws {
    let text = try RunJSON.encode(self) + "\n"
    try AtomicFile.write(to: path) {
      try RunOutputs.writeText(text, to: $0)
      try alongside()
    }
  }

  /// The counts of every shard `0/n ..< n/n` of one evaluation summed (per-example values joined
  /// in shard order). Throws when the shards disagree on what they score or one is missing or
  /// repeated.
  public static func merge(_ parts: [FoolingCounts]) throws -> FoolingCounts {
    guard !parts.isEmpty else { throw TrainingError("nothing to merge") }
    let shards = try parts.map { part -> (index: Int, count: Int, part: FoolingCounts) in
      guard let shard = part.shard else { throw TrainingError("a count file to merge is not a shard (no 'shard' i/n)", settings: ["merge"]) }
      let (i, n) = try EvaluationRun.parseShard(shard)
      try part.check(source: "shard \(shard)")
      return (i, n, part)
    }.sorted { $0.index < $1.index }
    let n = shards[0].count
    guard shards.count == n, shards.map(\.index) == Array(0..<n), shards.allSatisfy({ $0.count == n }) else {
      throw TrainingError("shards \(shards.map { "\($0.index)/\($0.count)" }.joined(separator: ", ")) are not each of 0/\(n) ... \(n - 1)/\(n) once")
    }
    let head = shards[0].part
    for (_, _, part) in shards {
      guard part.modelDigests == head.modelDigests else {
        let digests = { (c: FoolingCounts) in c.modelDigests?.joined(separator: ", ") ?? "none" }
        throw TrainingError("shard \(part.shard ?? "?") scored other model weights (digests \(digests(part))) than shard \(head.shard ?? "?") (\(digests(head)))", settings: ["merge"])
      }
      guard part.setup == head.setup, part.objective == head.objective, part.statistic == head.statistic,
        part.successRange == head.successRange, part.methods.map(\.method) == head.methods.map(\.method)
      else { throw TrainingError("shard \(part.shard ?? "?") scored other models, data or settings than shard \(head.shard ?? "?")", settings: ["merge"]) }
    }
    func sum(_ a: Int, _ b: Int, _ field: String) throws -> Int {
      let (total, overflow) = a.addingReportingOverflow(b)
      guard !overflow else { throw TrainingError("the shards' \(field) overflow when summed (\(a) + \(b))", settings: ["merge"]) }
      return total
    }
    var merged = head
    merged.shard = nil
    for (_, _, part) in shards.dropFirst() {
      // Every other count is at most `examples` (``check(source:)``), so only these two can overflow.
      merged.examples = try sum(merged.examples, part.examples, "examples")
      merged.skippedFiles = try sum(merged.skippedFiles, part.skippedFiles, "skipped files")
      merged.top1.original += part.top1.original
      merged.top1.fooled += part.top1.fooled
      merged.top5.original += part.top5.original
      merged.top5.fooled += part.top5.fooled
      for (i, m) in part.methods.enumerated() {
        var t = merged.methods[i]
        t.successes.original += m.successes.original
        t.successes.fooled += m.successes.fooled
        t.originalFailures += m.originalFailures
        t.fooledSuccessesWhereOriginalFailed += m.fooledSuccessesWhereOriginalFailed
        t.statisticOriginal += m.statisticOriginal
        t.statisticFooled += m.statisticFooled
        t.spearman += m.spearman
        t.topK += m.topK
        t.pcc += m.pcc
        t.ssim += m.ssim
        t.mse += m.mse
        merged.methods[i] = t
      }
    }
    return merged
  }
}
