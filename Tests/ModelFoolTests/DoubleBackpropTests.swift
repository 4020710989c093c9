import ModelFool
import TestSupport
import Testing

/// End-to-end double backprop, the computation at the heart of every fooling loss: on a tiny conv
/// net, the weight gradient of `CE + lambda * MSE(normalised input saliency, target)` must match
/// central finite differences. The activations are softplus(beta=2): with ReLU the saliency is
/// only piecewise smooth in the weights and a finite-difference step that flips a mask measures
/// the jump, not the derivative (the engine computes the same graph either way).
@Suite("Double backprop end to end")
struct DoubleBackpropTests {
  static let x = randomTensor([2, 1, 6, 6], seed: 11, low: 0, high: 1)
  static let labels = [1, 2]
  static let target: Tensor = {
    var t = [Float](repeating: 0, count: 36)
    for i in 2..<4 { for j in 2..<4 { t[i * 6 + j] = 0.25 } }
    return Tensor(shape: [1, 6, 6], scalars: t)
  }()

  /// conv3x3 1->3 (+bias), softplus, conv3x3 3->4, softplus, global average pool, dense 4->3.
  static func loss(_ w: [Tensor], lambda: Float = 1) -> Tensor {
    let input = x.variable()
    let g = ConvGeometry(kernel: (3, 3), stride: (1, 1), padding: (1, 1))
    var h = (Tensor.conv2d(input, w[0], geometry: g) + w[1].reshaped([1, 3, 1, 1])).softplus(beta: 2)
    h = Tensor.conv2d(h, w[2], geometry: g).softplus(beta: 2)
    let logits = Tensor.matmul(h.globalAvgPool2d(), w[3], transposeB: true)
    let ce = Tensor.crossEntropy(logits: logits, labels: labels)
    let picked = logits.gathered(rowIndices: labels).sum()
    let saliency = gradients(of: picked, withRespectTo: [input], createGraph: true)[0]
    let map = saliency.abs().sum(alongAxis: 1)
    let normalised = map / (map.sum(alongAxes: [1, 2], keepingDimensions: true) + 1e-8)
    return ce + lambda * Tensor.meanSquaredError(normalised, target.expand(to: [2, 6, 6])) * 100
  }

  static let weights = [
    randomTensor([3, 1, 3, 3], seed: 1, low: -0.8, high: 0.8),
    randomTensor([3], seed: 2, low: 0.05, high: 0.2),
    randomTensor([4, 3, 3, 3], seed: 3, low: -0.5, high: 0.5),
    randomTensor([3, 4], seed: 4, low: -1, high: 1),
  ]

  @Test func weightGradientMatchesFiniteDifferences() {
    let check = checkGradients(of: { Self.loss($0) }, at: Self.weights, epsilon: 2e-3)
    #expect(check.error < 3e-2, "analytic \(check.analytic) numerical \(check.numerical)")
  }

  @Test func saliencyTermContributes() {
    // The fooling term must change the weight gradient: otherwise the test above proves nothing.
    let vars = Self.weights.map { $0.variable() }
    let withTerm = gradients(of: Self.loss(vars, lambda: 1), withRespectTo: vars)
    let without = gradients(of: Self.loss(vars, lambda: 0), withRespectTo: vars)
    #expect(relativeError(withTerm[2], without[2]) > 0.05)
  }

  /// `whenFinal` (what a data-parallel step starts its reductions from) reports every weight once,
  /// during the pass, with exactly the gradient returned; the last layer's first and the first
  /// layer's last (the order in which the pass completes them), and an input the loss does not
  /// read as zeros after the pass.
  @Test func gradientsAreReportedWhenFinal() {
    let vars = Self.weights.map { $0.variable() }
    let unused = Tensor.ones([2]).variable()
    var reported: [(index: Int, gradient: Tensor)] = []
    let returned = gradients(of: Self.loss(vars), withRespectTo: vars + [unused]) { reported.append(($0, $1)) }
    #expect(reported.map(\.index) == [3, 2, 1, 0, 4])
    for (i, g) in reported {
      #expect(g.shape == returned[i].shape && g.scalars == returned[i].scalars, "input \(i)")
    }
    #expect(reported[4].gradient.scalars == [0, 0])
    #expect(returned[0].scalars.contains { $0 != 0 })
  }
}

/// What a recorded graph keeps: the values its VJPs read, not every intermediate result.
@Suite("Graph memory")
struct GraphMemoryTests {
  /// A convolution's output before its ReLU and the operands of a sum are freed once the forward
  /// pass has used them, while the ReLU's output (its mask) and the convolution's input stay;
  /// first and second-order gradients are unchanged (hand-checked on a 1x1 convolution).
  @Test func activationsNoVJPReadsAreFreed() {
    let x = Tensor(shape: [1, 1, 1, 3], scalars: [1, -2, 3]).variable()
    let w = Tensor(shape: [1, 1, 1, 1], scalars: [2]).variable()
    weak var convInput: TensorStorage?
    weak var preActivation: TensorStorage?
    weak var summand: TensorStorage?
    let y: Tensor = {
      let xin = x * 1
      let z = Tensor.conv2d(xin, w, geometry: ConvGeometry(kernel: (1, 1), stride: (1, 1), padding: (0, 0)))
      let s = z + 1
      (convInput, preActivation, summand) = (xin.storage, z.storage, s.storage)
      return s.relu()
    }()
    #expect(convInput != nil)  // read by the convolution's weight gradient
    #expect(preActivation == nil)
    #expect(summand == nil)
    // y = relu(2 x + 1) = [3, 0, 7]; d(sum y)/dx = 2 where 2x + 1 > 0.
    #expect(y.scalars == [3, 0, 7])
    let g = gradients(of: y.sum(), withRespectTo: [x, w], createGraph: true)
    #expect(g[0].scalars == [2, 0, 2])
    #expect(g[1].scalars == [4])  // x where the mask is on: 1 + 3
    // Second order through the kept mask and weight: d/dw sum(dy/dx) = 2 (two unmasked entries).
    #expect(gradients(of: g[0].sum(), withRespectTo: [w])[0].scalars == [2])
  }

  /// A gradient that several paths add up is summed in its own buffer when nothing else shares
  /// it (no recording), with the same values as the recorded sum: x read by three products and by
  /// itself twice (`x + x`, whose two terms share one buffer), hand-computed; the buffer kept by
  /// the caller's seed is never written.
  @Test func gradientsOfSeveralPathsAddUp() {
    let x = Tensor(shape: [3], scalars: [1, -2, 0.5]).variable()
    let a = Tensor(shape: [3], scalars: [2, 3, -1]), b = Tensor(shape: [3], scalars: [0.25, -4, 8])
    func f(_ x: Tensor) -> Tensor { (x * a).sum() + (x * b).sum() + (x + x).sum() + (x * x).sum() }
    // d/dx = a + b + 2 + 2x
    let expected: [Float] = [2 + 0.25 + 2 + 2, 3 - 4 + 2 - 4, -1 + 8 + 2 + 1]
    let plain = gradients(of: f(x), withRespectTo: [x])[0]
    let recorded = gradients(of: f(x), withRespectTo: [x], createGraph: true)[0]
    #expect(plain.scalars == expected)
    #expect(recorded.scalars == expected)
    let seed = Tensor(shape: [3], scalars: [1, 1, 1])
    let y = x * 1
    let g = gradients(of: y + y, withRespectTo: [x], seed: seed)[0]
    #expect(g.scalars == [2, 2, 2])
    #expect(seed.scalars == [1, 1, 1])
  }
}

/// Tensor buffers of 32 MiB or more are kept for the next tensor of the same size (no page faults
/// for a step that makes the same sizes again); smaller ones are left to the allocator.
@Suite("Large buffer reuse", .serialized)
struct LargeBufferReuseTests {
  @Test func aFreedLargeBufferServesTheNextTensorOfItsSize() {
    let count = 10 << 20  // 40 MiB of Float
    var first: UnsafeMutablePointer<Float>?
    do {
      let t = Tensor.zeros([count])
      first = t.storage.pointer
      #expect(t.scalars.allSatisfy { $0 == 0 })
    }
    let again = Tensor.zeros([count])
    #expect(again.storage.pointer == first)
    // The reused buffer is written like a new one: zeros, not the old values.
    #expect(again.scalars.allSatisfy { $0 == 0 })
    let other = Tensor.ones([count + 16])
    #expect(other.storage.pointer != first)
    #expect(other.scalars.allSatisfy { $0 == 1 })
  }
}
