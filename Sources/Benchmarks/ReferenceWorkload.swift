import ModelFool

/// The reference workload of `modelfool bench step` (the same math as `bench/peers/jax_step.py`):
/// batch 32 of 3x32x32 inputs; conv3x3 3->16 (+bias, pad 1), ReLU, conv3x3 16->32 (+bias, pad 1),
/// ReLU, global average pool, dense 32->10 (+bias); SGD with learning rate 0.01.
///
/// - plain step: cross-entropy.
/// - double-backprop step: `CE + 1.0 * MSE(h, t)` with `h` the input gradient of the true-class
///   logits, abs-summed over channels and normalised per image, and `t` a centre square
///   (rows/cols 8..<24) normalised to sum 1: the shape of every fooling loss.
public struct ReferenceWorkload {
  public static let batch = 32, size = 32, classes = 10
  public static let learningRate: Float = 0.01

  /// conv1 weight/bias, conv2 weight/bias, dense weight/bias.
  public var parameters: [Tensor]
  public let input: Tensor
  public let labels: [Int]
  public let target: Tensor

  /// Seeded He-normal weights, uniform inputs in [0, 1) and uniform labels.
  public init(seed: UInt64 = 0) {
    var g = SeededGenerator(seed: seed)
    func he(_ shape: [Int], fanIn: Int) -> Tensor {
      Tensor.randomNormal(shape, standardDeviation: (2 / Float(fanIn)).squareRoot(), using: &g)
    }
    parameters = [
      he([16, 3, 3, 3], fanIn: 27), Tensor.zeros([16]),
      he([32, 16, 3, 3], fanIn: 144), Tensor.zeros([32]),
      he([10, 32], fanIn: 32), Tensor.zeros([10]),
    ]
    let n = Self.batch, s = Self.size
    input = Tensor.randomUniform([n, 3, s, s], using: &g)
    labels = (0..<n).map { _ in Int(g.next() % UInt64(Self.classes)) }
    var t = [Float](repeating: 0, count: s * s)
    for i in 8..<24 { for j in 8..<24 { t[i * s + j] = 1 / 256 } }
    target = Tensor(shape: [1, s, s], scalars: t).expand(to: [n, s, s])
  }

  static let geometry = ConvGeometry(kernel: (3, 3), stride: (1, 1), padding: (1, 1))

  /// Logits `[32, 10]` of `x` under parameters `p`.
  public static func logits(_ p: [Tensor], _ x: Tensor) -> Tensor {
    var h = (Tensor.conv2d(x, p[0], geometry: geometry) + p[1].reshaped([1, -1, 1, 1])).relu()
    h = (Tensor.conv2d(h, p[2], geometry: geometry) + p[3].reshaped([1, -1, 1, 1])).relu()
    return Tensor.matmul(h.globalAvgPool2d(), p[4], transposeB: true) + p[5]
  }

  /// The loss; `saliencyWeight` 0 gives the plain cross-entropy step.
  public func loss(_ p: [Tensor], saliencyWeight: Float) -> Tensor {
    if saliencyWeight == 0 {
      return Tensor.crossEntropy(logits: Self.logits(p, input), labels: labels)
    }
    let x = input.variable()
    let logits = Self.logits(p, x)
    let ce = Tensor.crossEntropy(logits: logits, labels: labels)
    let g = gradients(of: logits.gathered(rowIndices: labels).sum(), withRespectTo: [x], createGraph: true)[0]
    let h = g.abs().sum(alongAxis: 1)
    let normalised = h / (h.sum(alongAxes: [1, 2], keepingDimensions: true) + 1e-8)
    return ce + saliencyWeight * Tensor.meanSquaredError(normalised, target)
  }

  /// One SGD step; returns the loss before the update.
  @discardableResult
  public mutating func step(doubleBackprop: Bool) -> Float {
    let vars = parameters.map { $0.variable() }
    let l = loss(vars, saliencyWeight: doubleBackprop ? 1 : 0)
    let grads = gradients(of: l, withRespectTo: vars)
    parameters = withoutRecording {
      zip(parameters, grads).map { $0 - Self.learningRate * $1 }
    }
    return l.scalar
  }
}
