import CBLAS

/// Matrix multiplication primitive through `cblas_sgemm`, with optional transposes so that VJPs
/// never materialise a transposed copy.
extension Tensor {
  /// `op(a) @ op(b)` for rank-2 tensors, or batched for rank-3 tensors with the same batch size.
  /// A rank-3 `a` with a rank-2 `b` multiplies every matrix of the batch by `b`.
  public static func matmul(
    _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false
  ) -> Tensor {
    if a.rank == 3 && b.rank == 2 && !transposeA {
      let (n, m, k) = (a.shape[0], a.shape[1], a.shape[2])
      return matmul(a.reshaped([n * m, k]), b, transposeB: transposeB).reshaped([n, m, -1])
    }
    shapeCheck(
      (a.rank == 2 && b.rank == 2) || (a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0]),
      "matmul: unsupported shapes \(a.shape) x \(b.shape) (need 2-D x 2-D or 3-D x 3-D, same batch)")
    let batched = a.rank == 3
    let batch = batched ? a.shape[0] : 1
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (k2, n) = transposeB ? (bc, br) : (br, bc)
    shapeCheck(
      k == k2,
      "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") x \(b.shape)\(transposeB ? "ᵀ" : "") (\(k) vs \(k2))")
    let outShape = batched ? [batch, m, n] : [m, n]
    let r = Tensor.build(shape: outShape) { out in
      for i in 0..<batch {
        splitGEMM(
          transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
          a: a.storage.pointer + i * ar * ac, lda: ac,
          b: b.storage.pointer + i * br * bc, ldb: bc,
          c: out + i * m * n, ldc: n)
      }
    }
    return record("matmul", r, inputs: [a, b]) { g in
      let ga: Tensor?
      let gb: Tensor?
      switch (transposeA, transposeB) {
      case (false, false):
        ga = !wantsGradient(a, input: 0) ? nil : matmul(g, b, transposeB: true)
        gb = !wantsGradient(b, input: 1) ? nil : matmul(a, g, transposeA: true)
      case (true, false):
        ga = !wantsGradient(a, input: 0) ? nil : matmul(b, g, transposeB: true)
        gb = !wantsGradient(b, input: 1) ? nil : matmul(a, g)
      case (false, true):
        ga = !wantsGradient(a, input: 0) ? nil : matmul(g, b)
        gb = !wantsGradient(b, input: 1) ? nil : matmul(g, a, transposeA: true)
      case (true, true):
        ga = !wantsGradient(a, input: 0) ? nil : matmul(b, g, transposeA: true, transposeB: true)
        gb = !wantsGradient(b, input: 1) ? nil : matmul(g, a, transposeA: true, transposeB: true)
      }
      return [ga, gb]
    }
  }
}

/// `C = op(A) op(B)` cut into blocks of C's longer side that the engine's threads share: a
/// dense layer's product (VGG-19's first one reads a 392 MiB weight matrix for every pass) would
/// otherwise run on one core, OpenBLAS being pinned to one thread. The blocks depend on the shape
/// only (at most 8, of at least 64 rows or columns, for products of at least 2^21
/// multiply-adds), and OpenBLAS computes an element of C the same way whatever the M and N around
/// it, so the result does not depend on the thread count.
func splitGEMM(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  let byColumns = n >= m
  let side = byColumns ? n : m
  let blocks = m * n * k < 1 << 21 ? 1 : Swift.min(8, side / 64)
  guard blocks > 1 else {
    return gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, beta: 0)
  }
  parallelChunks(blocks, work: m * n * k, minimumWork: 0) { part in
    for block in part {
      let (lo, hi) = (side * block / blocks, side * (block + 1) / blocks)
      if byColumns {
        // Columns lo..<hi of op(B): columns of B, or rows of a transposed B.
        gemm(
          transposeA: transposeA, transposeB: transposeB, m: m, n: hi - lo, k: k, a: a, lda: lda,
          b: b + (transposeB ? lo * ldb : lo), ldb: ldb, c: c + lo, ldc: ldc, beta: 0)
      } else {
        // Rows lo..<hi of op(A): rows of A, or columns of a transposed A.
        gemm(
          transposeA: transposeA, transposeB: transposeB, m: hi - lo, n: n, k: k, a: a + (transposeA ? lo : lo * lda), lda: lda,
          b: b, ldb: ldb, c: c + lo * ldc, ldc: ldc, beta: 0)
      }
    }
  }
}

/// `C = op(A) op(B) + beta C` on raw row-major buffers (single precision, via OpenBLAS).
@inline(__always)
func gemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float
) {
  EngineThreads.pinBLAS()
  if m == 0 || n == 0 { return }
  if k == 0 {
    if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
    return
  }
  cblas_sgemm(
    CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
