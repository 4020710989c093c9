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
}

public enum FoolingEvaluator {
  /// Scores `fooled` against `original` on `data` for every method in `methods`, reporting each
  /// batch to `observer`; `maps`, when given, receives each batch's normalised maps (method,
  /// original's, fooled model's) as they are scored.
  ///
  /// Maps are min-max normalised per example before the statistics, so that input-resolution
  /// methods (sum-normalised) and target-layer methods are judged on one scale.
  public static func evaluate(
    fooled: Model, original: Model, data: Dataset, objective: FoolingObjective,
    methods: [ExplanationMethod], range: SuccessRange? = nil, layer: String? = nil,
    batchSize: Int = 64, observer: RunObserver = .silent,
    maps mapSink: ((_ method: ExplanationMethod, _ original: Tensor, _ fooled: Tensor) -> Void)? = nil
  ) throws -> FoolingEvaluation {
    let range = range ?? objective.statistic.defaultRange
    let task = "evaluate \(objective.name) on \(data.count) examples"
    let batchesPerMethod = (data.count + batchSize - 1) / batchSize
    var batchesDone = 0
    observer.progress(RunProgress(task: task, done: 0, total: batchesPerMethod * methods.count))
    var results: [MethodEvaluation] = []
    var ranks: [String: [String: BeforeAfter]] = [:]
    let spans = objective.isTabular ? try FeatureSpan.features(of: original) : []
    for method in methods {
      var statsFooled: [Float] = [], statsOriginal: [Float] = []
      var sp: [Float] = [], tk: [Float] = [], pc: [Float] = [], ss: [Float] = [], ms: [Float] = []
      var rankSums: [String: (Float, Float)] = [:]
      for batch in data.batches(size: batchSize) {
        let labels = batch.labels
        func maps(_ m: Model, _ l: [Int]) throws -> Tensor {
          let h = try FineTuner.maps(m, batch.inputs, labels: l, method: method, layer: layer, tabular: objective.isTabular, createGraph: false).detached()
          return objective.isTabular ? h : Heatmap.minMax(h)
        }
        let hf = try maps(fooled, labels), ho = try maps(original, labels)
        mapSink?(method, ho, hf)
        switch objective {
        case .location:
          statsFooled += FoolingStatistics.location(hf)
          statsOriginal += FoolingStatistics.location(ho)
        case .topK:
          statsFooled += FoolingStatistics.topK(original: ho, fooled: hf)
          statsOriginal += FoolingStatistics.topK(original: ho, fooled: ho)
        case .centerMass:
          statsFooled += FoolingStatistics.centerMass(original: ho, fooled: hf)
          statsOriginal += FoolingStatistics.centerMass(original: ho, fooled: ho)
        case .active(let c1, let c2):
          let a = [Int](repeating: c1, count: labels.count), b = [Int](repeating: c2, count: labels.count)
          let originalC2 = try maps(original, b)
          statsFooled += FoolingStatistics.active(fooledC1: try maps(fooled, a), originalC2: originalC2)
          statsOriginal += FoolingStatistics.active(fooledC1: try maps(original, a), originalC2: originalC2)
        case .hide(let sensitive):
          statsFooled += FoolingStatistics.hide(hf, sensitive: sensitive)
          statsOriginal += FoolingStatistics.hide(ho, sensitive: sensitive)
        case .featureLocation(let inside):
          statsFooled += FoolingStatistics.featureLocation(hf, inside: inside)
          statsOriginal += FoolingStatistics.featureLocation(ho, inside: inside)
        case .tabularTopK:
          statsFooled += FoolingStatistics.tabularTopK(original: ho, fooled: hf)
          statsOriginal += FoolingStatistics.tabularTopK(original: ho, fooled: ho)
        }
        batchesDone += 1
        observer.progress(RunProgress(
          task: task, done: batchesDone, total: batchesPerMethod * methods.count, metrics: [("method", method.rawValue)]))
        sp += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.spearman)
        tk += FoolingStatistics.perExample(ho, hf) { SimilarityMetrics.topKIntersection($0, $1, k: max($0.count / 10, 1)) }
        pc += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.pearson)
        ms += FoolingStatistics.perExample(ho, hf, SimilarityMetrics.mse)
        if ho.rank == 3 {
          let (h, w) = (ho.shape[1], ho.shape[2])
          ss += FoolingStatistics.perExample(ho, hf) { SimilarityMetrics.ssim($0, $1, height: h, width: w) }
        }
        for (g, span) in spans.enumerated() where span.isSensitive {
          let before = FoolingStatistics.rank(ho, group: g).reduce(0, +)
          let after = FoolingStatistics.rank(hf, group: g).reduce(0, +)
          let old = rankSums[span.name] ?? (0, 0)
          rankSums[span.name] = (old.0 + before, old.1 + after)
        }
      }
      let mean = { (v: [Float]) in v.isEmpty ? Float.nan : v.reduce(0, +) / Float(v.count) }
      results.append(MethodEvaluation(
        method: method.rawValue,
        fsr: BeforeAfter(
          original: FoolingStatistics.successRate(statsOriginal, range: range),
          fooled: FoolingStatistics.successRate(statsFooled, range: range)),
        fsrWhereOriginalFailed: FoolingStatistics.successRate(statsFooled, whereOriginalFails: statsOriginal, range: range),
        meanStatistic: BeforeAfter(original: mean(statsOriginal), fooled: mean(statsFooled)),
        spearman: mean(sp), topKIntersection: mean(tk), pcc: mean(pc), ssim: ss.isEmpty ? nil : mean(ss), mse: mean(ms)))
      if !rankSums.isEmpty {
        ranks[method.rawValue] = rankSums.mapValues {
          BeforeAfter(original: $0.0 / Float(data.count), fooled: $0.1 / Float(data.count))
        }
      }
    }
    observer.finished(task)
    let logitsBefore = Trainer.logits(original, on: data), logitsAfter = Trainer.logits(fooled, on: data)
    let before = Trainer.evaluate(logits: logitsBefore, labels: data.labels)
    let after = Trainer.evaluate(logits: logitsAfter, labels: data.labels)
    var fairness: FairnessEvaluation?
    if objective.isTabular {
      fairness = FairnessEvaluation(
        sensitiveRanks: ranks,
        demographicParityDifference: demographicParity(
          original: logitsBefore.argmaxLastAxis(), fooled: logitsAfter.argmaxLastAxis(), data: data, spans: spans))
    }
    return FoolingEvaluation(
      objective: objective.describe(features: spans), statistic: objective.statistic.rawValue, successRange: range.description,
      examples: data.count,
      fsr: Dictionary(uniqueKeysWithValues: results.map { ($0.method, $0.fsr) }),
      accuracy: BeforeAfter(original: before.accuracy, fooled: after.accuracy),
      top5Accuracy: BeforeAfter(original: before.top5Accuracy, fooled: after.top5Accuracy),
      methods: results, fairness: fairness)
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
    func cell(_ text: String, _ width: Int = 10) -> String {
      String(repeating: " ", count: max(width - text.count, 0)) + text
    }
    var lines: [String] = []
    lines.append("objective \(objective), statistic \(statistic), success when \(successRange), \(examples) held-out examples")
    lines.append("method".padding(toLength: 14, withPad: " ", startingAt: 0)
      + ["FSR", "FSR orig", "FSR*", "spearman", "top-k", "PCC", "SSIM"].map { cell($0) }.joined())
    for m in methods {
      let values = [
        String(format: "%.1f%%", 100 * m.fsr.fooled), String(format: "%.1f%%", 100 * m.fsr.original),
        m.fsrWhereOriginalFailed.map { String(format: "%.1f%%", 100 * $0) } ?? "-",
        String(format: "%.3f", m.spearman), String(format: "%.3f", m.topKIntersection), String(format: "%.3f", m.pcc),
        m.ssim.map { String(format: "%.3f", $0) } ?? "-",
      ]
      lines.append(m.method.padding(toLength: 14, withPad: " ", startingAt: 0) + values.map { cell($0) }.joined())
    }
    lines.append("FSR*: FSR of the fooled model on the examples where the original's map is not already a success")
    lines.append(String(format: "top-1 accuracy: original %.4f, fooled %.4f (change %+.2f points)", accuracy.original, accuracy.fooled, 100 * (accuracy.fooled - accuracy.original)))
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
