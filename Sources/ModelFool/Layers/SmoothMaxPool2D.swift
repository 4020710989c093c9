/// Max pooling smoothed for the input attack: in every non-overlapping `k x k` window the output is
/// the softmax-weighted mean of the window, `sum_i softmax(beta v)_i v_i` (the Boltzmann operator),
/// which tends to the maximum as `beta -> inf`.
///
/// Why: the input attack steers the explanation through the second derivatives of the network
/// (Dombrowski et al. 2019). ReLU has none, hence softplus(beta); max pooling has the same problem
/// one level up: which position of a window wins is a step function of the input, so the attack's
/// gradient cannot see that moving a pixel would hand the window (and the explanation's path back to
/// the input) to another position. Below the pool the gradient explanation reaches only the winners,
/// so the fine pixel pattern of the map is set by the winners. The smooth pool routes the gradient
/// to every position by its softmax weight and lets the attack move those weights; its `beta` grows
/// with the softplus beta, and the final explanation is computed with the real max-pool.
public final class SmoothMaxPool2D: Layer {
  /// Window size and stride (non-overlapping windows, no padding).
  public let kernelSize: Int
  /// Sharpness: 0 averages the window, large values select its maximum.
  public var beta: Float

  /// A smooth max-pool over `kernelSize x kernelSize` windows with sharpness `beta`.
  public init(kernelSize: Int, beta: Float) {
    self.kernelSize = kernelSize
    self.beta = beta
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    shapeCheck(x.rank == 4, "SmoothMaxPool2D: input must be NCHW, got \(x.shape)")
    let (n, c, h, w, k) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], kernelSize)
    guard h % k == 0, w % k == 0 else {
      // Windows that do not tile the input keep the exact max-pool.
      return x.maxPool2d(geometry: ConvGeometry(kernel: (k, k), stride: (k, k)))
    }
    let windows = x.reshaped([n, c, h / k, k, w / k, k]).permuted([0, 1, 2, 4, 3, 5]).reshaped([n, c, h / k, w / k, k * k])
    let weights = (windows * beta).softmax(alongAxis: 4)
    return (weights * windows).sum(alongAxis: 4)
  }

  public func deepCopy() -> SmoothMaxPool2D { SmoothMaxPool2D(kernelSize: kernelSize, beta: beta) }
}
