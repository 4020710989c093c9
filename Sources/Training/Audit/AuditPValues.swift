import Foundation

/// The p-values of the manipulation detector (docs/METHODS.md §11.2): how unlikely a suspect's
/// statistic is for one more clean model, and the correction for testing many statistics at once.
public enum AuditPValues {
  /// Two-sided p-value of `t` under Student's t distribution with `degreesOfFreedom` (> 0):
  /// `P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2)`. NaN for a NaN `t` or a non-positive df.
  public static func studentTTwoSided(_ t: Double, degreesOfFreedom df: Double) -> Double {
    guard !t.isNaN, df > 0 else { return .nan }
    if t.isInfinite { return 0 }
    return regularizedIncompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
  }

  /// The two-sided p-value of `value` for one more draw of a normal quantity of which `n` draws
  /// had mean `mean` and sample standard deviation `sd`: the predictive
  /// `t = (value - mean) / (sd * sqrt(1 + 1/n))` with `n - 1` degrees of freedom (n >= 2).
  public static func predictive(_ value: Double, mean: Double, sd: Double, n: Int) -> Double {
    guard n >= 2, sd > 0 else { return .nan }
    return studentTTwoSided((value - mean) / (sd * (1 + 1 / Double(n)).squareRoot()), degreesOfFreedom: Double(n - 1))
  }

  /// Holm's step-down correction of `p` (any order; the result is in the same order): sorted
  /// ascending, the `i`-th smallest (from 1) becomes `min(1, max over j <= i of (m - j + 1) p_(j))`.
  /// Its smallest value is Bonferroni's `min(1, m * p_min)`. NaN entries stay NaN and do not count in `m`.
  public static func holm(_ p: [Double]) -> [Double] {
    let order = p.indices.filter { !p[$0].isNaN }.sorted { p[$0] < p[$1] }
    var out = p
    var running = 0.0
    for (rank, i) in order.enumerated() {
      running = max(running, min(1, Double(order.count - rank) * p[i]))
      out[i] = running
    }
    return out
  }

  /// The regularised incomplete beta function `I_x(a, b)` for `0 <= x <= 1`, `a, b > 0`: the
  /// continued fraction of its power series form (evaluated by the modified Lentz method), on the
  /// side of `x = (a + 1) / (a + b + 2)` where it converges fast, and `1 - I_{1-x}(b, a)` on the other.
  public static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
    guard x >= 0, x <= 1, a > 0, b > 0 else { return .nan }
    if x == 0 || x == 1 { return x }
    if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
    // x^a (1 - x)^b / (a B(a, b)), in logarithms.
    let logFront = a * log(x) + b * log1p(-x) - log(a) - (lgamma(a) + lgamma(b) - lgamma(a + b))
    return exp(logFront) * betaContinuedFraction(x, a: a, b: b)
  }

  /// `1 / (1 + d1 / (1 + d2 / (1 + ...)))` with `d_{2k+1} = -(a + k)(a + b + k) x / ((a + 2k)(a + 2k + 1))`
  /// and `d_{2k} = k (b - k) x / ((a + 2k - 1)(a + 2k))`, by the modified Lentz method.
  static func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
    let tiny = 1e-300
    // Lentz on b0 + a1 / (b1 + a2 / (b2 + ...)) with b0 = 0, a1 = 1, every other b_j = 1 and
    // a_{j+1} = d_j. After the first level: f = 1, D = 1, C = 1 + 1 / tiny.
    var f = 1.0, d = 1.0, c = 1 + 1 / tiny
    func step(_ numerator: Double) {
      d = 1 + numerator * d
      if abs(d) < tiny { d = tiny }
      c = 1 + numerator / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      f *= c * d
    }
    for k in 0..<10_000 {
      let kk = Double(k)
      let odd = -(a + kk) * (a + b + kk) * x / ((a + 2 * kk) * (a + 2 * kk + 1))
      let before = f
      step(odd)
      let even = (kk + 1) * (b - kk - 1) * x / ((a + 2 * kk + 1) * (a + 2 * kk + 2))
      step(even)
      if abs(f - before) <= 1e-15 * abs(f) { break }
    }
    return f
  }
}
