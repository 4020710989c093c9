import Foundation

/// SLIC superpixels (Achanta et al. 2012, "SLIC superpixels compared to state-of-the-art
/// superpixel methods"), the segmentation behind image LIME (docs/METHODS.md §2.12).
///
/// Implementation note: colours are CIELAB for three-channel images in [0, 1] (sRGB, D65) and
/// `100 v` for one channel. `K` centres start on a regular grid of step `S = sqrt(HW / K)`, each
/// moved to the lowest-gradient pixel of its 3 x 3 neighbourhood; ten rounds assign every pixel
/// within `2S x 2S` of a centre to the one minimising `sqrt(d_lab^2 + (d_xy / S)^2 m^2)` (`m` the
/// compactness) and move each centre to the mean of its pixels. Connectivity is then enforced:
/// 4-connected pieces smaller than a quarter of `S^2` join the neighbouring segment met first in
/// scan order, and the segments are renumbered 0..<count in scan order. Deterministic: no
/// randomness, and the same image gives the same segments.
public enum SLIC {
  /// The segment of each pixel (`H x W`, row-major) of `image` (`C x H x W`, row-major, C = 1 or
  /// 3) and the number of segments, for about `segments` superpixels of compactness `compactness`.
  public static func segment(
    _ image: [Float], channels c: Int, height h: Int, width w: Int, segments: Int, compactness m: Double = 10, rounds: Int = 10
  ) -> (labels: [Int32], count: Int) {
    precondition(image.count == c * h * w && (c == 1 || c == 3) && h > 0 && w > 0 && segments > 0, "SLIC: bad image or segment count")
    let n = h * w
    let colour = labColours(image, channels: c, pixels: n)
    let step = max(1, Int((Double(n) / Double(segments)).squareRoot().rounded()))
    // Centres: (L, a, b, y, x) on the grid, nudged to the lowest gradient nearby.
    var centres: [[Double]] = []
    func gradient(_ y: Int, _ x: Int) -> Double {
      guard y > 0, y < h - 1, x > 0, x < w - 1 else { return .infinity }
      let dx = (0..<3).reduce(0.0) { $0 + pow(colour[(y * w + x + 1) * 3 + $1] - colour[(y * w + x - 1) * 3 + $1], 2) }
      let dy = (0..<3).reduce(0.0) { $0 + pow(colour[((y + 1) * w + x) * 3 + $1] - colour[((y - 1) * w + x) * 3 + $1], 2) }
      return dx + dy
    }
    for gy in stride(from: step / 2, to: h, by: step) {
      for gx in stride(from: step / 2, to: w, by: step) {
        var (by, bx, best) = (gy, gx, gradient(gy, gx))
        for dy in -1...1 {
          for dx in -1...1 where (0..<h).contains(gy + dy) && (0..<w).contains(gx + dx) {
            let g = gradient(gy + dy, gx + dx)
            if g < best { (by, bx, best) = (gy + dy, gx + dx, g) }
          }
        }
        let p = by * w + bx
        centres.append([colour[p * 3], colour[p * 3 + 1], colour[p * 3 + 2], Double(by), Double(bx)])
      }
    }
    var labels = [Int32](repeating: -1, count: n)
    let spatial = m * m / Double(step * step)
    for _ in 0..<rounds {
      var distance = [Double](repeating: .infinity, count: n)
      for (k, centre) in centres.enumerated() {
        let cy = Int(centre[3].rounded()), cx = Int(centre[4].rounded())
        for y in max(0, cy - 2 * step)..<min(h, cy + 2 * step + 1) {
          for x in max(0, cx - 2 * step)..<min(w, cx + 2 * step + 1) {
            let p = y * w + x
            var d = (0..<3).reduce(0.0) { $0 + pow(colour[p * 3 + $1] - centre[$1], 2) }
            d += spatial * (pow(Double(y) - centre[3], 2) + pow(Double(x) - centre[4], 2))
            if d < distance[p] { (distance[p], labels[p]) = (d, Int32(k)) }
          }
        }
      }
      var sums = [[Double]](repeating: [0, 0, 0, 0, 0, 0], count: centres.count)
      for p in 0..<n where labels[p] >= 0 {
        let k = Int(labels[p])
        for i in 0..<3 { sums[k][i] += colour[p * 3 + i] }
        sums[k][3] += Double(p / w); sums[k][4] += Double(p % w); sums[k][5] += 1
      }
      for k in centres.indices where sums[k][5] > 0 { centres[k] = (0..<5).map { sums[k][$0] / sums[k][5] } }
    }
    return connected(labels, height: h, width: w, minimumSize: max(1, step * step / 4))
  }

  /// Colours as `[L, a, b]` per pixel: CIELAB of sRGB in [0, 1] (D65 white), or `[100 v, 0, 0]`.
  static func labColours(_ image: [Float], channels c: Int, pixels n: Int) -> [Double] {
    var out = [Double](repeating: 0, count: n * 3)
    guard c == 3 else {
      for p in 0..<n { out[p * 3] = 100 * Double(image[p]) }
      return out
    }
    func linear(_ v: Double) -> Double { v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4) }
    func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
    for p in 0..<n {
      let (r, g, b) = (linear(Double(image[p])), linear(Double(image[n + p])), linear(Double(image[2 * n + p])))
      let x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
      let y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
      let z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883
      out[p * 3] = 116 * f(y) - 16
      out[p * 3 + 1] = 500 * (f(x) - f(y))
      out[p * 3 + 2] = 200 * (f(y) - f(z))
    }
    return out
  }

  /// 4-connected pieces of equal label, pieces under `minimumSize` pixels joined to the piece
  /// met before them in scan order (or after, for the first), renumbered in scan order.
  static func connected(_ labels: [Int32], height h: Int, width w: Int, minimumSize: Int) -> (labels: [Int32], count: Int) {
    var out = [Int32](repeating: -1, count: h * w)
    var count: Int32 = 0
    var queue: [Int] = []
    for start in 0..<(h * w) where out[start] < 0 {
      // The label of a finished neighbour, for a piece that turns out too small.
      var adjacent: Int32 = -1
      for q in [start - 1, start - w] where q >= 0 && (q != start - 1 || start % w > 0) && out[q] >= 0 { adjacent = out[q] }
      queue = [start]
      out[start] = count
      var head = 0
      while head < queue.count {
        let p = queue[head]; head += 1
        let (y, x) = (p / w, p % w)
        for (ny, nx) in [(y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)] where (0..<h).contains(ny) && (0..<w).contains(nx) {
          let q = ny * w + nx
          if out[q] < 0 && labels[q] == labels[start] { out[q] = count; queue.append(q) }
        }
      }
      if queue.count < minimumSize && adjacent >= 0 {
        for p in queue { out[p] = adjacent }
      } else {
        count += 1
      }
    }
    return (out, Int(count))
  }
}
