import Foundation

/// Activations. ReLU, ReLU6 and softplus are primitives (their VJPs are masks or a sigmoid);
/// softmax and log-softmax are compositions.
extension Tensor {
  /// `max(x, 0)`; derivative 1 where x > 0, else 0.
  /// The backward masks with the output (`relu(x) > 0` exactly where `x > 0`), so the input's
  /// buffer is freed once nothing else reads it: a convolution's output before its ReLU is then not
  /// kept for the backward pass.
  public func relu() -> Tensor {
    let r = unaryKernel(self, ElementFunction.ReLU())
    return Tensor.record("relu", r, inputs: [self]) { g in [g.masked(where: r, lower: 0)] }
  }

  /// `relu(a + b)` for tensors of one shape in one pass (a residual block's sum and ReLU), with
  /// the bits of the two ops; the VJP masks with the output and passes the result to both.
  public static func sumReLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    guard a.shape == b.shape else { return (a + b).relu() }
    let r = broadcastKernel(a, b, op: "add", ElementFunction.AddReLU())
    let (da, db) = (a.node != nil, b.node != nil)
    return recordKeepingOutput("sumReLU", r, inputs: [a, b]) { g, out in
      let m = g.masked(where: out, lower: 0)
      return [da ? m : nil, db ? m : nil]
    }
  }

  /// `min(max(x, 0), 6)`; derivative 1 on (0, 6).
  /// Masks with the output as ``relu()`` does (`0 < relu6(x) < 6` exactly where `0 < x < 6`).
  public func relu6() -> Tensor {
    let r = unaryKernel(self, ElementFunction.ReLU6())
    return Tensor.record("relu6", r, inputs: [self]) { g in [g.masked(where: r, lower: 0, upper: 6)] }
  }

  /// `self` where `lower < mask < upper`, else 0: the VJP of ReLU and ReLU6 in one pass.
  /// Linear in `self` (its VJP is the same masking); the mask is a constant.
  public func masked(where mask: Tensor, lower: Float, upper: Float = .infinity) -> Tensor {
    shapeCheck(mask.shape == shape, "masked(where:): mask \(mask.shape) differs from \(shape)")
    let r = Tensor.build(shape: shape) { out in
      let p = storage.pointer, m = mask.storage.pointer
      // Branch-free (two selects) so that the loop vectorises: a branch on a ReLU mask is
      // mispredicted half the time.
      parallelChunks(count, work: count) { r in
        for i in r {
          let v = p[i], k = m[i]
          let low = k > lower ? v : 0
          out[i] = k < upper ? low : 0
        }
      }
    }
    return Tensor.record("masked", r, inputs: [self]) { g in [g.masked(where: mask, lower: lower, upper: upper)] }
  }

  /// `log(1 + e^(beta x)) / beta`, the smooth ReLU of Dombrowski et al. (2019); derivative
  /// `sigmoid(beta x)`. Tends to ReLU as beta grows.
  public func softplus(beta: Float = 1) -> Tensor {
    let r = unaryKernel(self, ElementFunction.Softplus(beta: beta))
    return Tensor.record("softplus", r, inputs: [self]) { g in [g * (self * beta).sigmoid()] }
  }

  /// Softmax along `axis`.
  public func softmax(alongAxis axis: Int = -1) -> Tensor {
    logSoftmax(alongAxis: axis).exp()
  }

  /// Log-softmax along `axis`, computed stably.
  public func logSoftmax(alongAxis axis: Int = -1) -> Tensor {
    self - logSumExp(alongAxes: [axis], keepingDimensions: true)
  }
}

/// An activation function as a value, so a whole model can switch between ReLU and
/// softplus(beta) without touching its weights (explanations, input attacks, the defence).
public enum Activation: Sendable, Hashable, CustomStringConvertible {
  case identity
  case relu
  case relu6
  /// Softplus with the given beta (Dombrowski et al.'s smooth ReLU).
  case softplus(beta: Float)
  /// Smooth ReLU6: `softplus_beta(x) - softplus_beta(x - 6)`, which tends to ReLU6 as beta grows.
  case smoothReLU6(beta: Float)
  case sigmoid
  case tanh

  public func callAsFunction(_ x: Tensor) -> Tensor {
    switch self {
    case .identity: x
    case .relu: x.relu()
    case .relu6: x.relu6()
    case .softplus(let beta): x.softplus(beta: beta)
    case .smoothReLU6(let beta): x.softplus(beta: beta) - (x - 6).softplus(beta: beta)
    case .sigmoid: x.sigmoid()
    case .tanh: x.tanh()
    }
  }

  public var description: String {
    switch self {
    case .identity: "identity"
    case .relu: "relu"
    case .relu6: "relu6"
    case .softplus(let beta): "softplus(beta=\(beta))"
    case .smoothReLU6(let beta): "smooth-relu6(beta=\(beta))"
    case .sigmoid: "sigmoid"
    case .tanh: "tanh"
    }
  }
}
