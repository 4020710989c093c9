import Foundation

/// The two-sample Kolmogorov-Smirnov test with weights, the auditor's check of a KernelSHAP
/// background in the biased-background attack (``BiasedBackground``).
///
/// `D = sup_t |F_a(t) - F_b(t)|` for the weighted empirical distribution functions of two samples
/// (a sample's weights are normalised to sum 1; a row repeated `k` times has weight `k`). The
/// p-value is the asymptotic Kolmogorov distribution with Stephens' small-sample correction
/// (as in Numerical Recipes' `kstwo`): `p = Q((sqrt(n_e) + 0.12 + 0.11 / sqrt(n_e)) D)`,
/// `Q(l) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 l^2)`, `n_e = n_a n_b / (n_a + n_b)` with `n` the
/// number of rows counted with their repetitions. On discrete data (counts, one-hot categories)
/// the test is conservative: its p-value is at least the exact one.
///
/// Implementation note: sample `b` is sorted once (``Distribution``); `F_a - F_b` is constant in
/// `F_a` between `a`'s values while `F_b` rises, so the supremum is reached at one of `a`'s values
/// `v` (`F_a(v) - F_b(v)`) or just below one (`F_a(v^-) - F_b(v^-)`), each found by binary search:
/// `O(n_a log n_b)` per test once `b` is sorted.
public enum KolmogorovSmirnov {
  /// The statistic and p-value.
  public struct Result: Codable, Sendable, Equatable {
    public var statistic: Double
    public var p: Double
  }

  /// A sorted sample with cumulative weights: `F(t)` and `F(t^-)` by binary search.
  public struct Distribution: Sendable {
    /// Distinct values, increasing, and `F` at each.
    let values: [Double]
    let cumulative: [Double]
    /// Rows (with their repetitions).
    public let count: Int

    /// The distribution of `values` with `weights` (nil: 1 each; zero-weight values are left out),
    /// `count` rows (nil: the number of values).
    public init(_ values: [Double], weights: [Double]? = nil, count: Int? = nil) {
      let w = weights ?? [Double](repeating: 1, count: values.count)
      let pairs = zip(values, w).filter { $0.1 > 0 }.sorted { $0.0 < $1.0 }
      let total = pairs.reduce(0) { $0 + $1.1 }
      var (v, c, acc) = ([Double](), [Double](), 0.0)
      for (x, weight) in pairs {
        acc += weight / total
        if let last = v.last, last == x { c[c.count - 1] = acc } else { v.append(x); c.append(acc) }
      }
      if !c.isEmpty { c[c.count - 1] = 1 }
      (self.values, self.cumulative, self.count) = (v, c, count ?? values.count)
    }

    /// `F(t)` (`below: false`) or `F(t^-)` (`below: true`).
    func cdf(_ t: Double, below: Bool) -> Double {
      var (lo, hi) = (0, values.count)  // first index whose value is > t (>= t when below)
      while lo < hi {
        let mid = (lo + hi) / 2
        if below ? values[mid] < t : values[mid] <= t { lo = mid + 1 } else { hi = mid }
      }
      return lo == 0 ? 0 : cumulative[lo - 1]
    }
  }

  /// `Q(lambda)`, the Kolmogorov distribution's upper tail (1 at 0). Below `lambda = 1.18` the
  /// alternating series converges slowly, and the equivalent
  /// `1 - (sqrt(2 pi) / lambda) sum_{j>=1} exp(-(2j - 1)^2 pi^2 / (8 lambda^2))` is used.
  public static func tail(_ lambda: Double) -> Double {
    guard lambda > 0 else { return 1 }
    var sum = 0.0
    if lambda < 1.18 {
      for j in 1...50 {
        let k = Double(2 * j - 1)
        sum += exp(-k * k * Double.pi * Double.pi / (8 * lambda * lambda))
      }
      return min(1, max(0, 1 - (2 * Double.pi).squareRoot() / lambda * sum))
    }
    var sign = 1.0
    for j in 1...100 {
      let term = sign * exp(-2 * Double(j * j) * lambda * lambda)
      sum += term
      if abs(term) <= 1e-16 { break }
      sign = -sign
    }
    return min(1, max(0, 2 * sum))
  }

  /// The test of sample `a` against the distribution `b`.
  public static func test(_ a: Distribution, _ b: Distribution) -> Result {
    var d = 0.0, previous = 0.0
    for (v, fa) in zip(a.values, a.cumulative) {
      d = max(d, abs(previous - b.cdf(v, below: true)), abs(fa - b.cdf(v, below: false)))
      previous = fa
    }
    let (n1, n2) = (Double(a.count), Double(b.count))
    let ne = n1 * n2 / (n1 + n2), root = ne.squareRoot()
    return Result(statistic: d, p: tail((root + 0.12 + 0.11 / root) * d))
  }

  /// The test of the values `a` against `b` (unweighted).
  public static func test(_ a: [Double], _ b: [Double]) -> Result { test(Distribution(a), Distribution(b)) }
}
