import Foundation

/// Per-example test statistics of the fooling objectives and the Fooling Success Rate (FSR) of
/// Heo et al. (2019): the fraction of held-out examples whose statistic lies in the success range.
///
/// The paper's exact ranges could not be checked; the defaults are ours (each objective states
/// its own in ModelFoolTraining), every one is a flag of `modelfool evaluate`, and every report
/// prints the ranges it used.

/// A success range: the statistic must be `<=` or `>=` a threshold.
public struct SuccessRange: Sendable, Hashable, Codable, CustomStringConvertible {
  public enum Comparison: String, Sendable, Codable { case atMost = "<=", atLeast = ">=" }
  public var comparison: Comparison
  public var threshold: Float

  public init(_ comparison: Comparison, _ threshold: Float) {
    self.comparison = comparison
    self.threshold = threshold
  }

  /// Whether `statistic` lies in the range (NaN never does).
  public func contains(_ statistic: Float) -> Bool {
    comparison == .atMost ? statistic <= threshold : statistic >= threshold
  }

  public var description: String { "\(comparison.rawValue) \(threshold)" }

  /// Parses `<=0.2` or `>=0.5` (spaces allowed).
  public init(parsing text: String) throws {
    let t = text.replacingOccurrences(of: " ", with: "")
    for c in [Comparison.atMost, .atLeast] where t.hasPrefix(c.rawValue) {
      if let v = Float(t.dropFirst(2)), v.isFinite {
        self.init(c, v)
        return
      }
    }
    throw ExplanationError("success range '\(text)' must look like '<=0.2' or '>=0.5'")
  }
}

/// Statistics of one batch of maps, one value per example.
public enum FoolingStatistics {
  /// Location: per-image `mean((m - h)^2)` with the frame mask of ``FoolingLoss/frameMask(height:width:)``.
  public static func location(_ h: Tensor) -> [Float] {
    let (n, height, width) = (h.shape[0], h.shape[1], h.shape[2])
    let m = FoolingLoss.frameMask(height: height, width: width).scalars
    let v = h.scalars, hw = height * width
    return (0..<n).map { SimilarityMetrics.mse(Array(v[($0 * hw)..<(($0 + 1) * hw)]), m) }
  }

  /// Top-k: per-image overlap fraction of the top 10% pixels of `original` and `fooled`.
  /// A constant fooled map (a blank explanation ranks nothing) scores 1, a failure.
  public static func topK(original: Tensor, fooled: Tensor, fraction: Float = 0.1) -> [Float] {
    perExample(original, fooled) { a, b in
      if b.min() == b.max() { return 1 }
      return SimilarityMetrics.topKIntersection(a, b, k: max(Int(Float(a.count) * fraction), 1))
    }
  }

  /// Center-mass: per-image normalised distance between the centres of mass.
  /// A constant fooled map (a blank explanation points nowhere) scores 0, a failure, even where
  /// the image centre lies far from the original centre of mass.
  public static func centerMass(original: Tensor, fooled: Tensor) -> [Float] {
    let width = Float(original.shape[2])
    let a = FoolingLoss.centerOfMass(original.detached()).scalars
    let b = FoolingLoss.centerOfMass(fooled.detached()).scalars
    let hw = fooled.count / max(fooled.shape[0], 1), v = fooled.scalars
    return (0..<original.shape[0]).map { i in
      let map = v[(i * hw)..<((i + 1) * hw)]
      if map.min() == map.max() { return 0 }
      let dh = a[2 * i] - b[2 * i], dw = a[2 * i + 1] - b[2 * i + 1]
      return ((dh * dh + dw * dw) / 2).squareRoot() / (width - 1)
    }
  }

  /// Active: per-image Pearson correlation of the fooled c1 map with the original c2 map.
  public static func active(fooledC1: Tensor, originalC2: Tensor) -> [Float] {
    perExample(fooledC1, originalC2, SimilarityMetrics.pearson)
  }

  /// Hide: 1 where every sensitive group ranks below the top `k` by |relevance|, else 0.
  public static func hide(_ relevance: Tensor, sensitive: [Int], k: Int = 3) -> [Float] {
    perRow(relevance) { row in
      let top = Set(SimilarityMetrics.topIndices(row.map(abs), k: k))
      return sensitive.allSatisfy { !top.contains($0) } ? 1 : 0
    }
  }

  /// Rank (1 = most relevant) of `group` by |relevance| in each row.
  public static func rank(_ relevance: Tensor, group: Int) -> [Float] {
    perRow(relevance) { row in
      let order = SimilarityMetrics.topIndices(row.map(abs), k: row.count)
      return Float((order.firstIndex(of: group) ?? row.count) + 1)
    }
  }

  /// Tabular location: share of |relevance| inside `inside`.
  public static func featureLocation(_ relevance: Tensor, inside: [Int]) -> [Float] {
    perRow(relevance) { row in
      let total = row.reduce(0) { $0 + abs($1) }
      return total > 0 ? inside.reduce(0) { $0 + abs(row[$1]) } / total : 0
    }
  }

  /// Tabular top-k: overlap of the top-`k` groups by |relevance|.
  public static func tabularTopK(original: Tensor, fooled: Tensor, k: Int = 3) -> [Float] {
    perExample(original, fooled) { SimilarityMetrics.topKIntersection($0.map(abs), $1.map(abs), k: k) }
  }

  /// FSR: the fraction of `statistics` inside `range`.
  public static func successRate(_ statistics: [Float], range: SuccessRange) -> Float {
    statistics.isEmpty ? 0 : Float(statistics.filter(range.contains).count) / Float(statistics.count)
  }

  /// FSR of `fooled` over only the examples whose `original` statistic lies outside `range`
  /// (what the attack changed); nil when the original succeeds everywhere. The two arrays are
  /// per example, in the same order.
  public static func successRate(
    _ fooled: [Float], whereOriginalFails original: [Float], range: SuccessRange
  ) -> Float? {
    precondition(fooled.count == original.count, "successRate: \(fooled.count) fooled vs \(original.count) original statistics")
    let changed = zip(original, fooled).filter { !range.contains($0.0) }.map(\.1)
    return changed.isEmpty ? nil : successRate(changed, range: range)
  }

  /// Applies `f` to the flattened example `i` of two batches of the same shape.
  public static func perExample(_ a: Tensor, _ b: Tensor, _ f: ([Float], [Float]) -> Float) -> [Float] {
    precondition(a.shape == b.shape, "per-example metric: \(a.shape) vs \(b.shape)")
    let n = a.shape[0], size = a.count / max(n, 1)
    let va = a.scalars, vb = b.scalars
    return (0..<n).map { i in f(Array(va[(i * size)..<((i + 1) * size)]), Array(vb[(i * size)..<((i + 1) * size)])) }
  }

  static func perRow(_ a: Tensor, _ f: ([Float]) -> Float) -> [Float] {
    let n = a.shape[0], size = a.count / max(n, 1)
    let v = a.scalars
    return (0..<n).map { f(Array(v[($0 * size)..<(($0 + 1) * size)])) }
  }
}
