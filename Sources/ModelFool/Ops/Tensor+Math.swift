import Foundation

/// Unary math primitives: exp, log, sqrt, pow, abs, sign, tanh, sigmoid.
extension Tensor {
  /// `e^x`.
  public func exp() -> Tensor {
    let r = unaryKernel(self) { Foundation.exp($0) }
    return Tensor.record("exp", r, inputs: [self]) { g, out in [g * out] }
  }

  /// Natural logarithm.
  public func log() -> Tensor {
    let r = unaryKernel(self) { Foundation.log($0) }
    return Tensor.record("log", r, inputs: [self]) { g, _ in [g / self] }
  }

  /// Square root.
  public func sqrt() -> Tensor {
    let r = unaryKernel(self) { $0.squareRoot() }
    return Tensor.record("sqrt", r, inputs: [self]) { g, out in [g * 0.5 / out] }
  }

  /// `x^p` for a constant exponent `p`.
  public func pow(_ p: Float) -> Tensor {
    if p == 1 { return self }
    if p == 2 { return self * self }
    let r = unaryKernel(self) { Foundation.pow($0, p) }
    return Tensor.record("pow", r, inputs: [self]) { g, _ in [g * p * self.pow(p - 1)] }
  }

  /// `x * x`.
  public func squared() -> Tensor { self * self }

  /// Absolute value; its derivative is `sign(x)` (0 at 0).
  public func abs() -> Tensor {
    let r = unaryKernel(self) { Swift.abs($0) }
    return Tensor.record("abs", r, inputs: [self]) { g, _ in [g * self.sign()] }
  }

  /// -1, 0 or +1; a constant (zero derivative everywhere it is defined).
  public func sign() -> Tensor {
    unaryKernel(self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
  }

  /// Hyperbolic tangent; derivative `1 - tanh^2`.
  public func tanh() -> Tensor {
    let r = unaryKernel(self) { Foundation.tanh($0) }
    return Tensor.record("tanh", r, inputs: [self]) { g, out in [g * (1 - out * out)] }
  }

  /// Logistic sigmoid `1 / (1 + e^-x)`; derivative `s (1 - s)`.
  public func sigmoid() -> Tensor {
    let r = unaryKernel(self) { v in
      v >= 0 ? 1 / (1 + Foundation.exp(-v)) : Foundation.exp(v) / (1 + Foundation.exp(v))
    }
    return Tensor.record("sigmoid", r, inputs: [self]) { g, out in [g * out * (1 - out)] }
  }
}
