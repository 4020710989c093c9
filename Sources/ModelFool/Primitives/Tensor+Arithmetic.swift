import Foundation

/// Broadcasting arithmetic primitives: `+ - * /`, negation and scalar forms.
///
/// Each VJP undoes broadcasting with ``Tensor/sum(toShape:)`` and uses only differentiable ops.
extension Tensor {
  /// Elementwise sum with NumPy broadcasting.
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "add", ElementFunction.Add())
    let (sa, sb) = (a.node == nil ? nil : a.shape, b.node == nil ? nil : b.shape)  // not the values
    return record("add", r, inputs: [a, b]) { g in [sa.map { g.sum(toShape: $0) }, sb.map { g.sum(toShape: $0) }] }
  }

  /// Elementwise difference with broadcasting.
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "sub", ElementFunction.Subtract())
    let (sa, sb) = (a.node == nil ? nil : a.shape, b.node == nil ? nil : b.shape)
    return record("sub", r, inputs: [a, b]) { g in [sa.map { g.sum(toShape: $0) }, sb.map { (-g).sum(toShape: $0) }] }
  }

  /// Elementwise product with broadcasting.
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "mul", ElementFunction.Multiply())
    // Each factor is kept only for the other's gradient.
    let (sa, sb) = (a.node == nil ? nil : a.shape, b.node == nil ? nil : b.shape)
    let (fa, fb) = (sb == nil ? nil : a, sa == nil ? nil : b)
    return record("mul", r, inputs: [a, b]) { g in
      [sa.flatMap { s in fb.map { (g * $0).sum(toShape: s) } }, sb.flatMap { s in fa.map { (g * $0).sum(toShape: s) } }]
    }
  }

  /// Elementwise quotient with broadcasting.
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "div", ElementFunction.Divide())
    // The output is kept only when b needs a gradient; a is read for its shape only.
    let sa = a.node == nil ? nil : a.shape
    if b.node == nil { return record("div", r, inputs: [a, b]) { g in [sa.map { (g / b).sum(toShape: $0) }, nil] } }
    return recordKeepingOutput("div", r, inputs: [a, b]) { g, out in
      [sa.map { (g / b).sum(toShape: $0) }, (-(g * out) / b).sum(toShape: b.shape)]
    }
  }

  /// Elementwise negation.
  public static prefix func - (x: Tensor) -> Tensor {
    let r = unaryKernel(x, ElementFunction.Negate())
    return record("neg", r, inputs: [x]) { g in [-g] }
  }

  public static func + (a: Tensor, s: Float) -> Tensor { a + Tensor(s) }
  public static func + (s: Float, a: Tensor) -> Tensor { Tensor(s) + a }
  public static func - (a: Tensor, s: Float) -> Tensor { a - Tensor(s) }
  public static func - (s: Float, a: Tensor) -> Tensor { Tensor(s) - a }
  public static func * (a: Tensor, s: Float) -> Tensor { a * Tensor(s) }
  public static func * (s: Float, a: Tensor) -> Tensor { Tensor(s) * a }
  public static func / (a: Tensor, s: Float) -> Tensor { a * Tensor(1 / s) }
  public static func / (s: Float, a: Tensor) -> Tensor { Tensor(s) / a }

  public static func += (a: inout Tensor, b: Tensor) { a = a + b }
  public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
  public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
}
