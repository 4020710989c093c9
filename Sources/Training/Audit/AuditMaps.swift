import Foundation
import ModelFool
import ModelFoolData

/// The explanation maps of a batch as flat per-example vectors, the form every audit statistic
/// compares (docs/METHODS.md §11).
///
/// - `signed`: the raw map summed over channels (Grad-CAM's raw `[h, w]` map, the channel sum of
///   `[C, H, W]` input maps and `[K, h, w]` target-layer maps, the `[D]` row of tabular maps);
/// - `heat`: the post-processed heatmap (``Heatmap/postProcess(_:method:)``), the map a user sees.
///
/// `height` x `width` is the map's spatial size (`1` x `D` for tabular rows, where SSIM does not apply).
public struct AuditMapSet: Sendable, Equatable {
  public var signed: [[Float]]
  public var heat: [[Float]]
  public var height: Int
  public var width: Int

  /// A set of maps; every vector must hold `height * width` values.
  public init(signed: [[Float]], heat: [[Float]], height: Int, width: Int) {
    precondition(signed.count == heat.count, "AuditMapSet: \(signed.count) signed vs \(heat.count) heatmaps")
    self.signed = signed
    self.heat = heat
    self.height = height
    self.width = width
  }

  /// Maps whose signed and post-processed forms are the same vectors (hand-made maps in tests).
  public init(_ maps: [[Float]], height: Int, width: Int) { self.init(signed: maps, heat: maps, height: height, width: width) }

  /// Number of examples.
  public var count: Int { heat.count }

  /// True for maps with a spatial layout (images).
  public var isSpatial: Bool { height > 1 && width > 1 }

  /// The maps of `method` for the batch `x`, explaining the `labels` (no graph is recorded).
  ///
  /// - Parameter beta: explain the network with every ReLU replaced by `softplus(beta)` (nil: ReLU).
  public static func explain(
    _ model: Model, _ x: Tensor, labels: [Int], method: ExplanationMethod, layer: String? = nil, beta: Float? = nil
  ) throws -> AuditMapSet {
    var options = ExplanationOptions()
    options.createGraph = false
    options.layer = layer
    options.beta = beta
    model.setTraining(false)
    let e = try explanation(model, x, labels: labels, method: method, options: options)
    let signed = Heatmap.channelSum(e.raw), heat = e.heatmap
    let n = heat.shape[0]
    let height = heat.rank == 3 ? heat.shape[1] : 1
    let width = heat.rank == 3 ? heat.shape[2] : heat.shape[1]
    let size = height * width
    let s = signed.scalars, h = heat.scalars
    guard s.count == n * size, h.count == n * size else {
      throw TrainingError("\(method): raw map \(signed.shape) and heatmap \(heat.shape) differ in size")
    }
    return AuditMapSet(
      signed: (0..<n).map { Array(s[($0 * size)..<(($0 + 1) * size)]) },
      heat: (0..<n).map { Array(h[($0 * size)..<(($0 + 1) * size)]) }, height: height, width: width)
  }

  /// The maps of `method` explaining `labels`, in batches of `batchSize` (nil: 64, fewer for large
  /// images: ``Dataset/inferenceBatchSize(preferred:)``), joined.
  public static func explain(
    _ model: Model, data: Dataset, method: ExplanationMethod, layer: String? = nil, beta: Float? = nil, batchSize: Int? = nil
  ) throws -> AuditMapSet {
    let batchSize = batchSize ?? data.inferenceBatchSize(preferred: 64)
    var all: AuditMapSet?
    for start in stride(from: 0, to: data.count, by: batchSize) {
      let rows = Array(start..<min(start + batchSize, data.count))
      let part = try explain(
        model, data.inputs.selectingRows(rows), labels: rows.map { data.labels[$0] }, method: method, layer: layer, beta: beta)
      if all == nil { all = part } else {
        all!.signed += part.signed
        all!.heat += part.heat
      }
    }
    guard let all else { throw TrainingError("no examples to explain", settings: ["count"]) }
    return all
  }
}

/// How similar two sets of maps are, example by example, averaged over the examples: the four
/// measures of Adebayo et al. (2018) (docs/METHODS.md §11.1).
public struct MapSimilarity: Codable, Sendable, Equatable {
  /// Spearman rank correlation of `|signed map|`.
  public var spearmanAbs: Float
  /// Spearman rank correlation of the signed maps.
  public var spearmanSigned: Float
  /// SSIM of the post-processed heatmaps (nil for tabular rows).
  public var ssim: Float?
  /// Top-k overlap of `|signed map|`: `|top_k(a) ∩ top_k(b)| / k`.
  public var topK: Float

  public init(spearmanAbs: Float, spearmanSigned: Float, ssim: Float?, topK: Float) {
    self.spearmanAbs = spearmanAbs
    self.spearmanSigned = spearmanSigned
    self.ssim = ssim
    self.topK = topK
  }

  /// The measures in display order, with their names.
  public var named: [(name: String, value: Float?)] {
    [("spearman |map|", spearmanAbs), ("spearman signed", spearmanSigned), ("ssim", ssim), ("top-k", topK)]
  }

  /// The mean similarity of `a` and `b` (same examples, same order); `topKFraction` of the
  /// positions make the top-k set (at least one).
  public static func between(_ a: AuditMapSet, _ b: AuditMapSet, topKFraction: Float = 0.1) -> MapSimilarity {
    precondition(a.count == b.count && a.height == b.height && a.width == b.width, "MapSimilarity: map sets differ in shape")
    let n = Float(max(a.count, 1))
    let k = max(1, Int((Float(a.height * a.width) * topKFraction).rounded()))
    var abs = 0 as Float, signed = 0 as Float, ssim = 0 as Float, top = 0 as Float
    for i in 0..<a.count {
      let absA = a.signed[i].map(Swift.abs), absB = b.signed[i].map(Swift.abs)
      abs += SimilarityMetrics.spearman(absA, absB)
      signed += SimilarityMetrics.spearman(a.signed[i], b.signed[i])
      top += SimilarityMetrics.topKIntersection(absA, absB, k: k)
      if a.isSpatial { ssim += SimilarityMetrics.ssim(a.heat[i], b.heat[i], height: a.height, width: a.width) }
    }
    return MapSimilarity(spearmanAbs: abs / n, spearmanSigned: signed / n, ssim: a.isSpatial ? ssim / n : nil, topK: top / n)
  }
}
