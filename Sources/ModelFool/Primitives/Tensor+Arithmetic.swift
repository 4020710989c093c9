import Foundation

/// Broadcasting arithmetic primitives: `+ - * /`, negation and scalar forms.
///
/// Each VJP undoes broadcasting with ``Tensor/sum(toShape:)`` and uses only differentiable ops.
extension Tensor {
  /// Elementwise sum with NumPy broadcasting.
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "add", ElementFunction.Add())
    return record("add", r, inputs: [a, b]) { g, _ in
      [a.node == nil ? nil : g.sum(toShape: a.shape), b.node == nil ? nil : g.sum(toShape: b.shape)]
    }
  }

  /// Elementwise difference with broadcasting.
  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "sub", ElementFunction.Subtract())
    return record("sub", r, inputs: [a, b]) { g, _ in
      [a.node == nil ? nil : g.sum(toShape: a.shape), b.node == nil ? nil : (-g).sum(toShape: b.shape)]
    }
  }

  /// Elementwise product with broadcasting.
  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "mul", ElementFunction.Multiply())
    return record("mul", r, inputs: [a, b]) { g, _ in
      [
        a.node == nil ? nil : (g * b).sum(toShape: a.shape),
        b.node == nil ? nil : (g * a).sum(toShape: b.shape),
      ]
    }
  }

  /// Elementwise quotient with broadcasting.
  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let r = broadcastKernel(a, b, op: "div", ElementFunction.Divide())
    return record("div", r, inputs: [a, b]) { g, out in
      [
        a.node == nil ? nil : (g / b).sum(toShape: a.shape),
        b.node == nil ? nil : (-(g * out) / b).sum(toShape: b.shape),
      ]
    }
  }

  /// Elementwise negation.
  public static prefix func - (x: Tensor) -> Tensor {
    let r = unaryKernel(x, ElementFunction.Negate())
    return record("neg", r, inputs: [x]) { g, _ in [-g] }
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
