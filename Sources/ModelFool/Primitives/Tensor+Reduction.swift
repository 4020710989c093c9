import Foundation

/// Reductions: sum and max primitives; mean, min, logsumexp and friends are compositions.
extension Tensor {
  /// Sum over `axes` (all axes if `nil`). Reduced axes are kept as 1 when `keepingDimensions`.
  public func sum(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
    let set = Set((axes ?? Array(0..<rank)).map { normalizedAxis($0, rank: rank, op: "sum") })
    let kept = reduceKernel(self, axes: set, initial: 0, ElementFunction.Add())
    let inputShape = shape
    let keptShape = kept.shape
    let r = Tensor.record("sum", kept, inputs: [self]) { g in [g.expand(to: inputShape)] }
    if keepingDimensions || set.isEmpty { return r }
    return r.reshaped(keptShape.enumerated().filter { !set.contains($0.offset) }.map(\.element))
  }

  /// Sum over one axis.
  public func sum(alongAxis axis: Int, keepingDimensions: Bool = false) -> Tensor {
    sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
  }

  /// Sums a broadcast result back to `target` (the inverse of broadcasting `target` to `shape`).
  public func sum(toShape target: [Int]) -> Tensor {
    if shape == target { return self }
    let offset = rank - target.count
    shapeCheck(offset >= 0, "sum(toShape:): cannot reduce \(shape) to \(target)")
    var axes = Array(0..<offset)
    for (i, d) in target.enumerated() where d == 1 && shape[i + offset] != 1 { axes.append(i + offset) }
    return sum(alongAxes: axes, keepingDimensions: true).reshaped(target)
  }

  /// Mean over `axes` (all if `nil`).
  public func mean(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
    let list = axes ?? Array(0..<rank)
    let n = list.reduce(1) { $0 * shape[normalizedAxis($1, rank: rank, op: "mean")] }
    return sum(alongAxes: list, keepingDimensions: keepingDimensions) / Float(n)
  }

  /// Maximum over `axes` (all if `nil`). The gradient is shared equally between tied maxima.
  public func max(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
    let set = Set((axes ?? Array(0..<rank)).map { normalizedAxis($0, rank: rank, op: "max") })
    shapeCheck(count > 0, "max: empty tensor of shape \(shape)")
    let kept = reduceKernel(self, axes: set, initial: -Float.infinity, ElementFunction.Maximum())
    let axesList = Array(set)
    let r = Tensor.recordKeepingOutput("max", kept, inputs: [self]) { g, out in
      let mask = self.detached().isEqual(to: out.detached())
      let share = mask / mask.sum(alongAxes: axesList, keepingDimensions: true)
      return [g.expand(to: self.shape) * share]
    }
    if keepingDimensions || set.isEmpty { return r }
    return r.reshaped(kept.shape.enumerated().filter { !set.contains($0.offset) }.map(\.element))
  }

  /// Minimum over `axes` (all if `nil`).
  public func min(alongAxes axes: [Int]? = nil, keepingDimensions: Bool = false) -> Tensor {
    -(-self).max(alongAxes: axes, keepingDimensions: keepingDimensions)
  }

  /// `log(sum(exp(x)))` over `axes`, computed stably.
  public func logSumExp(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
    let m = max(alongAxes: axes, keepingDimensions: true).detached()
    let r = (self - m).exp().sum(alongAxes: axes, keepingDimensions: true).log() + m
    if keepingDimensions { return r }
    let set = Set(axes.map { normalizedAxis($0, rank: rank, op: "logSumExp") })
    return r.reshaped(r.shape.enumerated().filter { !set.contains($0.offset) }.map(\.element))
  }

  /// Index of the largest value along the last axis for every row (a constant).
  public func argmaxLastAxis() -> [Int] {
    let n = shape.last ?? 1
    let rows = count / Swift.max(n, 1)
    var result = [Int](repeating: 0, count: rows)
    let p = storage.pointer
    for r in 0..<rows {
      var best = 0
      for j in 1..<Swift.max(n, 1) where p[r * n + j] > p[r * n + best] { best = j }
      result[r] = best
    }
    return result
  }
}
