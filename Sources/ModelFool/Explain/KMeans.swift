/// Lloyd's k-means with k-means++ seeding, for a KernelSHAP background of cluster centres (what
/// `shap.kmeans` gives and Slack et al. explain against).
public enum KMeans {
  /// `k` centres `[k, D]` of the rows `x` `[N, D]` after at most `iterations` Lloyd steps, seeded
  /// with `SeededGenerator(seed:)` (k-means++: each next centre drawn with probability
  /// proportional to the squared distance to the nearest chosen one). `k >= N` gives the rows.
  public static func centres(of x: Tensor, k: Int, iterations: Int = 50, seed: UInt64) -> Tensor {
    let n = x.shape[0], d = x.shape[1]
    guard k < n else { return x.detached() }
    let v = x.scalars
    func distance(_ r: Int, _ c: [Float], _ j: Int) -> Float {
      var s: Float = 0
      for i in 0..<d { let t = v[r * d + i] - c[j * d + i]; s += t * t }
      return s
    }
    var generator = SeededGenerator(seed: seed)
    var centres = [Float](repeating: 0, count: k * d)
    let first = Int(generator.next() % UInt64(n))
    for i in 0..<d { centres[i] = v[first * d + i] }
    var nearest = (0..<n).map { distance($0, centres, 0) }
    for j in 1..<k {
      let total = nearest.reduce(0, +)
      var u = Float(Double(generator.next() >> 11) / Double(1 << 53)) * total, pick = n - 1
      for r in 0..<n { u -= nearest[r]; if u <= 0 { pick = r; break } }
      for i in 0..<d { centres[j * d + i] = v[pick * d + i] }
      for r in 0..<n { nearest[r] = min(nearest[r], distance(r, centres, j)) }
    }
    var assignment = [Int](repeating: -1, count: n)
    for _ in 0..<iterations {
      var changed = false
      for r in 0..<n {
        var best = 0, bestDistance = Float.infinity
        for j in 0..<k {
          let t = distance(r, centres, j)
          if t < bestDistance { (best, bestDistance) = (j, t) }
        }
        if best != assignment[r] { assignment[r] = best; changed = true }
      }
      if !changed { break }
      var sums = [Float](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
      for r in 0..<n {
        counts[assignment[r]] += 1
        for i in 0..<d { sums[assignment[r] * d + i] += v[r * d + i] }
      }
      for j in 0..<k where counts[j] > 0 { for i in 0..<d { centres[j * d + i] = sums[j * d + i] / Float(counts[j]) } }
    }
    return Tensor(shape: [k, d], scalars: centres)
  }
}
