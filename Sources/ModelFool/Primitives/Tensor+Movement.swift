/// Movement primitives: reshape, permute, expand (broadcast), slice, pad, concatenate.
extension Tensor {
  /// The same values viewed with another shape of the same element count. One `-1` is inferred.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var target = newShape
    if let i = newShape.firstIndex(of: -1) {
      let known = newShape.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
      shapeCheck(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(newShape) for \(shape)")
      target[i] = count / known
    }
    if target == shape { return self }
    shapeCheck(
      elementCount(target) == count,
      "reshape: \(shape) (\(count) elements) cannot become \(newShape)")
    let old = shape
    let r = Tensor(shape: target, storage: storage)
    return Tensor.record("reshape", r, inputs: [self]) { g in [g.reshaped(old)] }
  }

  /// Flattens all dimensions after the first: `[N, ...] -> [N, rest]`.
  public func flattenedBatch() -> Tensor { reshaped([shape.first ?? 1, -1]) }

  /// Reorders dimensions: output dimension `i` is input dimension `permutation[i]`.
  public func permuted(_ permutation: [Int]) -> Tensor {
    shapeCheck(
      permutation.count == rank && Set(permutation) == Set(0..<rank),
      "permute: \(permutation) is not a permutation of \(rank) axes")
    if permutation == Array(0..<rank) { return self }
    let outShape = permutation.map { shape[$0] }
    let inStrides = contiguousStrides(shape)
    let layout = StridedLayout(
      shape: outShape, strides: [contiguousStrides(outShape), permutation.map { inStrides[$0] }])
    let r = Tensor.build(shape: outShape) { out in
      let p = storage.pointer
      layout.forEachRowInParallel(splittable: { _ in true }) { off, n, st in
        let o = out + off[0], s = p + off[1], stride = st[1]
        if stride == 1 {
          o.update(from: s, count: n)
        } else {
          for i in 0..<n { o[i] = s[i &* stride] }
        }
      }
    }
    var inv = [Int](repeating: 0, count: rank)
    for (i, p) in permutation.enumerated() { inv[p] = i }
    let inverse = inv
    return Tensor.record("permute", r, inputs: [self]) { g in [g.permuted(inverse)] }
  }

  /// Swaps the last two dimensions.
  public func transposed() -> Tensor {
    shapeCheck(rank >= 2, "transposed: needs rank >= 2, got \(shape)")
    var p = Array(0..<rank)
    p.swapAt(rank - 1, rank - 2)
    return permuted(p)
  }

  /// Broadcasts to `target` (NumPy rules), materialising the copies.
  public func expand(to target: [Int]) -> Tensor {
    if shape == target { return self }
    shapeCheck(
      broadcastShape(shape, target) == target, "expand: \(shape) cannot broadcast to \(target)")
    let layout = StridedLayout(
      shape: target, strides: [contiguousStrides(target), broadcastStrides(shape, to: target)])
    let r = Tensor.build(shape: target) { out in
      let p = storage.pointer
      layout.forEachRowInParallel(splittable: { _ in true }) { off, n, st in
        let o = out + off[0], s = p + off[1], stride = st[1]
        if stride == 0 {
          o.update(repeating: s[0], count: n)
        } else {
          for i in 0..<n { o[i] = s[i &* stride] }
        }
      }
    }
    let old = shape
    return Tensor.record("expand", r, inputs: [self]) { g in [g.sum(toShape: old)] }
  }

  /// The sub-tensor `lower[i] ..< upper[i]` along every axis.
  public func slice(lower: [Int], upper: [Int]) -> Tensor {
    shapeCheck(
      lower.count == rank && upper.count == rank
        && (0..<rank).allSatisfy { 0 <= lower[$0] && lower[$0] <= upper[$0] && upper[$0] <= shape[$0] },
      "slice: bounds \(lower)..<\(upper) do not fit shape \(shape)")
    let outShape = (0..<rank).map { upper[$0] - lower[$0] }
    if outShape == shape { return self }
    let inStrides = contiguousStrides(shape)
    let base = zip(lower, inStrides).reduce(0) { $0 + $1.0 * $1.1 }
    let layout = StridedLayout(shape: outShape, strides: [contiguousStrides(outShape), inStrides])
    let r = Tensor.build(shape: outShape) { out in
      let p = storage.pointer + base
      layout.forEachRowInParallel(splittable: { _ in true }) { off, n, st in
        let o = out + off[0], s = p + off[1], stride = st[1]
        if stride == 1 { o.update(from: s, count: n) } else { for i in 0..<n { o[i] = s[i &* stride] } }
      }
    }
    let before = lower, after = (0..<rank).map { shape[$0] - upper[$0] }
    return Tensor.record("slice", r, inputs: [self]) { g in [g.padded(before: before, after: after)] }
  }

  /// Slices `range` along one axis.
  public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
    let a = normalizedAxis(axis, rank: rank, op: "slice")
    var lo = [Int](repeating: 0, count: rank), hi = shape
    lo[a] = range.lowerBound
    hi[a] = range.upperBound
    return slice(lower: lo, upper: hi)
  }

  /// Pads with `value` (default zero): `before[i]` and `after[i]` entries along axis `i`.
  public func padded(before: [Int], after: [Int], value: Float = 0) -> Tensor {
    shapeCheck(
      before.count == rank && after.count == rank && (before + after).allSatisfy { $0 >= 0 },
      "pad: widths \(before)/\(after) do not fit shape \(shape)")
    if before.allSatisfy({ $0 == 0 }) && after.allSatisfy({ $0 == 0 }) { return self }
    let outShape = (0..<rank).map { shape[$0] + before[$0] + after[$0] }
    let outStrides = contiguousStrides(outShape)
    let base = zip(before, outStrides).reduce(0) { $0 + $1.0 * $1.1 }
    let layout = StridedLayout(shape: shape, strides: [contiguousStrides(shape), outStrides])
    let r = Tensor.build(shape: outShape) { out in
      out.initialize(repeating: value, count: elementCount(outShape))
      let p = storage.pointer, o = out + base
      layout.forEachRow { off, n, st in
        let s = p + off[0], d = o + off[1], stride = st[1]
        if stride == 1 { d.update(from: s, count: n) } else { for i in 0..<n { d[i &* stride] = s[i] } }
      }
    }
    let lower = before, upper = (0..<rank).map { before[$0] + shape[$0] }
    return Tensor.record("pad", r, inputs: [self]) { g in [g.slice(lower: lower, upper: upper)] }
  }

  /// Joins tensors along `axis`; all other dimensions must agree.
  public static func concatenate(_ parts: [Tensor], alongAxis axis: Int) -> Tensor {
    shapeCheck(!parts.isEmpty, "concatenate: no tensors")
    let rank = parts[0].rank
    let a = normalizedAxis(axis, rank: rank, op: "concatenate")
    for p in parts {
      shapeCheck(
        p.rank == rank && (0..<rank).allSatisfy { $0 == a || p.shape[$0] == parts[0].shape[$0] },
        "concatenate: shape \(p.shape) does not match \(parts[0].shape) off axis \(a)")
    }
    var outShape = parts[0].shape
    outShape[a] = parts.reduce(0) { $0 + $1.shape[a] }
    let outStrides = contiguousStrides(outShape)
    let r = Tensor.build(shape: outShape) { out in
      var offset = 0
      for p in parts {
        // Each part's rows into its block of the output, on the engine's threads when large
        // (DenseNet concatenates its growing feature map once per layer).
        let layout = StridedLayout(shape: p.shape, strides: [outStrides, contiguousStrides(p.shape)])
        let src = p.storage.pointer, dst = out + offset * outStrides[a]
        layout.forEachRowInParallel(splittable: { _ in true }) { off, n, st in
          let d = dst + off[0], s = src + off[1], (ds, ss) = (st[0], st[1])
          if ds == 1 && ss == 1 { d.update(from: s, count: n) } else { for i in 0..<n { d[i &* ds] = s[i &* ss] } }
        }
        offset += p.shape[a]
      }
    }
    let sizes = parts.map { $0.shape[a] }
    return record("concatenate", r, inputs: parts) { g in
      var start = 0
      return sizes.map { n in
        defer { start += n }
        return g.slice(axis: a, start..<(start + n))
      }
    }
  }
}
