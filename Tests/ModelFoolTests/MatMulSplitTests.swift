import ModelFool
import Testing

/// Large products run in blocks of the output on the engine's threads: every transpose case
/// against a Float64 product, and the same bits on one and two threads.
@Suite("Matrix products in blocks", .serialized)
struct MatMulSplitTests {
  struct Case: CustomTestStringConvertible, Sendable {
    let m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool
    var testDescription: String { "\(m)x\(k) . \(k)x\(n) \(transposeA ? "A'" : "A") \(transposeB ? "B'" : "B")" }
  }

  /// A dense layer's forward pass (2 rows, split by columns), its weight gradient (split by
  /// rows, k = 3) and a product just under the threshold (one block), in every transpose case.
  static let cases: [Case] = [(2, 1_030, 1_100), (1_100, 700, 3), (64, 64, 500)].flatMap { m, n, k in
    [false, true].flatMap { ta in [false, true].map { tb in Case(m: m, n: n, k: k, transposeA: ta, transposeB: tb) } }
  }

  @Test(arguments: cases)
  func blocksMatchTheProductAndTheThreadCountChangesNoBit(_ c: Case) {
    var g = SeededGenerator(seed: UInt64(c.m * 7 + c.n))
    let a = Tensor.randomNormal(c.transposeA ? [c.k, c.m] : [c.m, c.k], using: &g)
    let b = Tensor.randomNormal(c.transposeB ? [c.n, c.k] : [c.k, c.n], using: &g)
    let one = EngineThreads.withCount(1) { Tensor.matmul(a, b, transposeA: c.transposeA, transposeB: c.transposeB) }
    let two = EngineThreads.withCount(2) { Tensor.matmul(a, b, transposeA: c.transposeA, transposeB: c.transposeB) }
    #expect(one.shape == [c.m, c.n])
    #expect(one.scalars.map(\.bitPattern) == two.scalars.map(\.bitPattern))
    let (av, bv, cv) = (a.scalars, b.scalars, one.scalars)
    var worst = 0.0
    for i in 0..<c.m {
      for j in 0..<c.n {
        var sum = 0.0, magnitude = 0.0
        for p in 0..<c.k {
          let x = Double(c.transposeA ? av[p * c.m + i] : av[i * c.k + p])
          let y = Double(c.transposeB ? bv[j * c.k + p] : bv[p * c.n + j])
          sum += x * y
          magnitude += abs(x * y)
        }
        worst = max(worst, abs(Double(cv[i * c.n + j]) - sum) / max(magnitude, 1e-12))
      }
    }
    // Float32 sums of at most 1,100 products.
    #expect(worst < 1e-6, "largest error relative to the sum of |terms|: \(worst)")
  }
}
