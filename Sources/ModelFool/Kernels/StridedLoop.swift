/// Implementation note: every broadcasting elementwise op and every reduction runs through one
/// loop. The iteration space (the larger shape) is walked in row-major order while each operand
/// advances by its own strides (0 along broadcast or reduced axes). Adjacent dimensions that are
/// contiguous for every operand are merged first, so the innermost loop is as long as possible
/// (a bias add over NCHW becomes an outer loop over N*C and an inner loop over H*W).
///
/// Index arithmetic inside the loops uses the wrapping operators (`&+`, `&*`): every offset is
/// below the element count of an allocated tensor, so it cannot overflow, and leaving out the
/// overflow checks lets the compiler vectorise the strided loops (the package builds with plain
/// `-O`, so these are the checks that `-Ounchecked` used to drop).

/// Merged iteration space: `shape` and, per operand, its strides.
struct StridedLayout {
  var shape: [Int]
  var strides: [[Int]]

  init(shape: [Int], strides: [[Int]]) {
    var s: [Int] = []
    var st: [[Int]] = Array(repeating: [], count: strides.count)
    for d in 0..<shape.count where shape[d] != 1 {
      if let last = s.indices.last,
        strides.indices.allSatisfy({ st[$0][last] == strides[$0][d] * shape[d] })
      {
        s[last] *= shape[d]
        for k in strides.indices { st[k][last] = strides[k][d] }
      } else {
        s.append(shape[d])
        for k in strides.indices { st[k].append(strides[k][d]) }
      }
    }
    if s.isEmpty {
      s = [1]
      st = strides.map { _ in [0] }
    }
    self.shape = s
    self.strides = st
  }

  /// Calls `body(offsets, innerCount, innerStrides)` once per innermost row, in row-major order;
  /// with `part`, only the rows (or, for the innermost dimension, the columns) whose index along
  /// dimension `dim` lies in `part`.
  @inline(__always)
  func forEachRow(
    restricting dim: Int = 0, to part: Range<Int>? = nil,
    _ body: (_ offsets: [Int], _ count: Int, _ innerStrides: [Int]) -> Void
  ) {
    let rank = shape.count
    var extent = shape
    var offsets = [Int](repeating: 0, count: strides.count)
    if let part {
      extent[dim] = part.count
      for k in strides.indices { offsets[k] = part.lowerBound &* strides[k][dim] }
    }
    let inner = extent[rank - 1]
    let innerStrides = strides.map { $0[rank - 1] }
    var index = [Int](repeating: 0, count: rank)
    let rows = elementCount(Array(extent.dropLast()))
    for _ in 0..<rows {
      body(offsets, inner, innerStrides)
      var d = rank &- 2
      while d >= 0 {
        index[d] &+= 1
        for k in strides.indices { offsets[k] &+= strides[k][d] }
        if index[d] < extent[d] { break }
        for k in strides.indices { offsets[k] &-= strides[k][d] &* extent[d] }
        index[d] = 0
        d &-= 1
      }
    }
  }

  /// ``forEachRow(restricting:to:_:)`` split over threads along one dimension for which
  /// `splittable` holds (the outermost with at least as many indices as threads, else the longest
  /// one); serial when there is none or the space is small. Each row keeps its serial order
  /// within its chunk, so a kernel that writes each output from one chunk gives the same bits.
  @inline(__always)
  func forEachRowInParallel(
    splittable: (Int) -> Bool, _ body: (_ offsets: [Int], _ count: Int, _ innerStrides: [Int]) -> Void
  ) {
    let threads = EngineThreads.count
    let total = elementCount(shape)
    guard threads > 1, total >= parallelThreshold else { return forEachRow(body) }
    let candidates = shape.indices.filter { splittable($0) && shape[$0] > 1 }
    guard let dim = candidates.first(where: { shape[$0] >= threads })
        ?? candidates.max(by: { shape[$0] < shape[$1] })
    else { return forEachRow(body) }
    parallelChunks(shape[dim], work: total) { part in forEachRow(restricting: dim, to: part, body) }
  }
}

/// Writes `f(a, b)` for the broadcast of `a` and `b` into a new tensor.
@inline(__always)
func broadcastKernel<F: BinaryElementFunction>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) -> Tensor {
  if a.shape == b.shape {
    return Tensor.build(shape: a.shape) { out in
      let pa = a.storage.pointer, pb = b.storage.pointer
      parallelChunks(a.count, work: a.count) { r in for i in r { out[i] = f(pa[i], pb[i]) } }
    }
  }
  guard let shape = broadcastShape(a.shape, b.shape) else {
    fatalError("shape error: \(op): cannot broadcast \(a.shape) with \(b.shape)")
  }
  if b.count == 1 {
    let s = b.storage.pointer[0]
    return Tensor.build(shape: shape) { out in
      let pa = a.storage.pointer
      parallelChunks(a.count, work: a.count) { r in for i in r { out[i] = f(pa[i], s) } }
    }
  }
  if a.count == 1 {
    let s = a.storage.pointer[0]
    return Tensor.build(shape: shape) { out in
      let pb = b.storage.pointer
      parallelChunks(b.count, work: b.count) { r in for i in r { out[i] = f(s, pb[i]) } }
    }
  }
  let layout = StridedLayout(
    shape: shape,
    strides: [contiguousStrides(shape), broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape)])
  return Tensor.build(shape: shape) { out in
    let pa = a.storage.pointer, pb = b.storage.pointer
    layout.forEachRowInParallel(splittable: { _ in true }) { off, n, st in
      let o = out + off[0], x = pa + off[1], y = pb + off[2]
      let so = st[0], sx = st[1], sy = st[2]
      if sx == 1 && sy == 1 {
        for i in 0..<n { o[i] = f(x[i], y[i]) }
      } else if sx == 1 && sy == 0 {
        let v = y[0]
        for i in 0..<n { o[i] = f(x[i], v) }
      } else if sx == 0 && sy == 1 {
        let v = x[0]
        for i in 0..<n { o[i] = f(v, y[i]) }
      } else {
        for i in 0..<n { o[i &* so] = f(x[i &* sx], y[i &* sy]) }
      }
    }
  }
}

/// Writes `f(x)` elementwise into a new tensor.
@inline(__always)
func unaryKernel<F: UnaryElementFunction>(_ x: Tensor, _ f: F) -> Tensor {
  Tensor.build(shape: x.shape) { out in
    let p = x.storage.pointer
    parallelChunks(x.count, work: x.count) { r in for i in r { out[i] = f(p[i]) } }
  }
}

/// Folds `x` along `axes` with `combine`, starting from `initial`; the result keeps rank
/// (reduced axes become 1).
@inline(__always)
func reduceKernel(
  _ x: Tensor, axes: Set<Int>, initial: Float, _ combine: some BinaryElementFunction
) -> Tensor {
  var outShape = x.shape
  for a in axes { outShape[a] = 1 }
  let outStrides = broadcastStrides(outShape, to: x.shape)
  let layout = StridedLayout(shape: x.shape, strides: [contiguousStrides(x.shape), outStrides])
  return Tensor.build(shape: outShape) { out in
    out.initialize(repeating: initial, count: elementCount(outShape))
    let p = x.storage.pointer
    // Split over kept axes only: each output is folded by one thread in the serial order.
    layout.forEachRowInParallel(splittable: { layout.strides[1][$0] != 0 }) { off, n, st in
      let src = p + off[0], dst = out + off[1]
      let ss = st[0], sd = st[1]
      if sd == 0 {
        var acc = dst[0]
        if ss == 1 {
          // Eight independent lanes let the compiler vectorise; folded at the end.
          var lanes = SIMD8<Float>(repeating: initial)
          var i = 0
          while i + 8 <= n {
            let v = SIMD8<Float>(UnsafeBufferPointer(start: src + i, count: 8))
            for k in 0..<8 { lanes[k] = combine(lanes[k], v[k]) }
            i &+= 8
          }
          for k in 0..<8 { acc = combine(acc, lanes[k]) }
          while i < n {
            acc = combine(acc, src[i])
            i &+= 1
          }
        } else {
          for i in 0..<n { acc = combine(acc, src[i &* ss]) }
        }
        dst[0] = acc
      } else if ss == 1 && sd == 1 {
        // A reduction over an outer axis (channels of NCHW): whole rows fold into whole rows.
        for i in 0..<n { dst[i] = combine(dst[i], src[i]) }
      } else {
        for i in 0..<n { dst[i &* sd] = combine(dst[i &* sd], src[i &* ss]) }
      }
    }
  }
}
