import Foundation

/// Similarity of two explanation maps (any shape, compared as flat vectors unless stated), the
/// metrics of both papers: Pearson (PCC), Spearman rank correlation, top-k intersection, SSIM,
/// MSE. Plain Float computations on values: metrics are measured, never differentiated.
public enum SimilarityMetrics {
  /// Pearson correlation; 0 when either map is constant.
  public static func pearson(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "pearson: \(a.count) vs \(b.count) values")
    let n = Double(a.count)
    let ma = a.reduce(0) { $0 + Double($1) } / n, mb = b.reduce(0) { $0 + Double($1) } / n
    var sab = 0.0, saa = 0.0, sbb = 0.0
    for (x, y) in zip(a, b) {
      let dx = Double(x) - ma, dy = Double(y) - mb
      sab += dx * dy
      saa += dx * dx
      sbb += dy * dy
    }
    return saa > 0 && sbb > 0 ? Float(sab / (saa * sbb).squareRoot()) : 0
  }

  /// Ranks (1-based, ties get their average rank).
  public static func ranks(_ a: [Float]) -> [Float] {
    let order = a.indices.sorted { a[$0] < a[$1] }
    var r = [Float](repeating: 0, count: a.count)
    var i = 0
    while i < order.count {
      var j = i
      while j + 1 < order.count && a[order[j + 1]] == a[order[i]] { j += 1 }
      let average = Float(i + j) / 2 + 1
      for k in i...j { r[order[k]] = average }
      i = j + 1
    }
    return r
  }

  /// Spearman rank correlation (Pearson of the ranks).
  public static func spearman(_ a: [Float], _ b: [Float]) -> Float { pearson(ranks(a), ranks(b)) }

  /// Indices of the `k` largest values (ties: lower index first).
  public static func topIndices(_ a: [Float], k: Int) -> [Int] {
    Array(a.indices.sorted { a[$0] > a[$1] || (a[$0] == a[$1] && $0 < $1) }.prefix(k))
  }

  /// `|top_k(a) ∩ top_k(b)| / k`.
  public static func topKIntersection(_ a: [Float], _ b: [Float], k: Int) -> Float {
    let k = min(max(k, 1), a.count)
    return Float(Set(topIndices(a, k: k)).intersection(topIndices(b, k: k)).count) / Float(k)
  }

  /// Mean squared difference.
  public static func mse(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "mse: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Float(max(a.count, 1))
  }

  /// Structural similarity of two `height` x `width` maps: Gaussian window 7x7 (sigma 1.5),
  /// `K1 = 0.01`, `K2 = 0.03`, data range = max - min over both maps (1 if constant), averaged
  /// over the positions where the window fits (valid region; the whole map if smaller than 7).
  public static func ssim(_ a: [Float], _ b: [Float], height: Int, width: Int) -> Float {
    precondition(a.count == height * width && b.count == a.count, "ssim: maps must be \(height)x\(width)")
    let all = a + b
    var range = Double((all.max() ?? 0) - (all.min() ?? 0))
    if range <= 0 { range = 1 }
    let c1 = (0.01 * range) * (0.01 * range), c2 = (0.03 * range) * (0.03 * range)
    let win = min(7, height, width)
    var kernel = [Double](repeating: 0, count: win * win)
    let center = Double(win - 1) / 2
    for i in 0..<win {
      for j in 0..<win {
        let d = (Double(i) - center) * (Double(i) - center) + (Double(j) - center) * (Double(j) - center)
        kernel[i * win + j] = Foundation.exp(-d / (2 * 1.5 * 1.5))
      }
    }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    var sum = 0.0
    var count = 0
    for y in 0...(height - win) {
      for x in 0...(width - win) {
        var ma = 0.0, mb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0
        for i in 0..<win {
          for j in 0..<win {
            let w = kernel[i * win + j]
            let va = Double(a[(y + i) * width + x + j]), vb = Double(b[(y + i) * width + x + j])
            ma += w * va
            mb += w * vb
            saa += w * va * va
            sbb += w * vb * vb
            sab += w * va * vb
          }
        }
        let va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb
        sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        count += 1
      }
    }
    return Float(sum / Double(count))
  }
}
