/// Comparisons (constants: 1 where true, 0 where false) and `where` selection.
extension Tensor {
  /// 1 where `self > other`, else 0. Not differentiable (a constant).
  public func isGreater(than other: Tensor) -> Tensor {
    broadcastKernel(self, other, op: "greater", ElementFunction.Comparison(kind: .greater))
  }
  /// 1 where `self >= other`, else 0.
  public func isGreaterOrEqual(to other: Tensor) -> Tensor {
    broadcastKernel(self, other, op: "greaterEqual", ElementFunction.Comparison(kind: .greaterOrEqual))
  }
  /// 1 where `self < other`, else 0.
  public func isLess(than other: Tensor) -> Tensor {
    broadcastKernel(self, other, op: "less", ElementFunction.Comparison(kind: .less))
  }
  /// 1 where `self == other`, else 0.
  public func isEqual(to other: Tensor) -> Tensor {
    broadcastKernel(self, other, op: "equal", ElementFunction.Comparison(kind: .equal))
  }
  public func isGreater(than s: Float) -> Tensor { isGreater(than: Tensor(s)) }
  public func isLess(than s: Float) -> Tensor { isLess(than: Tensor(s)) }

  /// `a` where `condition` is non-zero, else `b` (all three broadcast together).
  public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    guard let ab = broadcastShape(a.shape, b.shape), let shape = broadcastShape(condition.shape, ab)
    else { fatalError("shape error: select: cannot broadcast \(condition.shape), \(a.shape), \(b.shape)") }
    let c = condition.expand(to: shape), x = a.expand(to: shape), y = b.expand(to: shape)
    let r = Tensor.build(shape: shape) { out in
      let pc = c.storage.pointer, px = x.storage.pointer, py = y.storage.pointer
      for i in 0..<c.count { out[i] = pc[i] != 0 ? px[i] : py[i] }
    }
    let cond = condition.detached()
    let (sa, sb) = (a.node == nil ? nil : a.shape, b.node == nil ? nil : b.shape)  // not the values
    return record("select", r, inputs: [a, b]) { g in
      let zero = Tensor(0)
      return [
        sa.map { select(cond, g, zero).sum(toShape: $0) },
        sb.map { select(cond, zero, g).sum(toShape: $0) },
      ]
    }
  }

  /// Elementwise maximum; ties send the gradient to `a`.
  public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
    select(a.isGreaterOrEqual(to: b), a, b)
  }

  /// Elementwise minimum; ties send the gradient to `a`.
  public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
    select(b.isGreaterOrEqual(to: a), a, b)
  }

  /// Clamps every value into `[low, high]`.
  public func clamped(_ low: Float, _ high: Float) -> Tensor {
    Tensor.minimum(Tensor.maximum(self, Tensor(low)), Tensor(high))
  }
}
