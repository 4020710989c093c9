import Foundation

/// Unary math primitives: exp, log, sqrt, pow, abs, sign, tanh, sigmoid.
extension Tensor {
  /// `e^x`.
  public func exp() -> Tensor {
    let r = unaryKernel(self, ElementFunction.Exp())
    return Tensor.recordKeepingOutput("exp", r, inputs: [self]) { g, out in [g * out] }
  }

  /// Natural logarithm.
  public func log() -> Tensor {
    let r = unaryKernel(self, ElementFunction.Log())
    return Tensor.record("log", r, inputs: [self]) { g in [g / self] }
  }

  /// Square root.
  public func sqrt() -> Tensor {
    let r = unaryKernel(self, ElementFunction.SquareRoot())
    return Tensor.recordKeepingOutput("sqrt", r, inputs: [self]) { g, out in [g * 0.5 / out] }
  }

  /// `x^p` for a constant exponent `p`.
  public func pow(_ p: Float) -> Tensor {
    if p == 1 { return self }
    if p == 2 { return self * self }
    let r = unaryKernel(self, ElementFunction.Power(exponent: p))
    return Tensor.record("pow", r, inputs: [self]) { g in [g * p * self.pow(p - 1)] }
  }

  /// `x * x`.
  public func squared() -> Tensor { self * self }

  /// Absolute value; its derivative is `sign(x)` (0 at 0).
  public func abs() -> Tensor {
    let r = unaryKernel(self, ElementFunction.Absolute())
    return Tensor.record("abs", r, inputs: [self]) { g in [g * self.sign()] }
  }

  /// -1, 0 or +1; a constant (zero derivative everywhere it is defined).
  public func sign() -> Tensor {
    unaryKernel(self, ElementFunction.Sign())
  }

  /// Hyperbolic tangent; derivative `1 - tanh^2`.
  public func tanh() -> Tensor {
    let r = unaryKernel(self, ElementFunction.Tanh())
    return Tensor.recordKeepingOutput("tanh", r, inputs: [self]) { g, out in [g * (1 - out * out)] }
  }

  /// Logistic sigmoid `1 / (1 + e^-x)`; derivative `s (1 - s)`.
  public func sigmoid() -> Tensor {
    let r = unaryKernel(self, ElementFunction.Sigmoid())
    return Tensor.recordKeepingOutput("sigmoid", r, inputs: [self]) { g, out in [g * out * (1 - out)] }
  }
}
