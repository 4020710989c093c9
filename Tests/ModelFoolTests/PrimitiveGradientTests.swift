import ModelFool
import TestSupport
import Testing

/// One row of the gradient table: an op, its inputs, and whether its second derivative is
/// identically zero (linear ops still get the second-order check through the quadratic probe).
struct OpCase: CustomTestStringConvertible, Sendable {
  let name: String
  let inputs: [Tensor]
  let op: @Sendable ([Tensor]) -> Tensor
  var epsilon: Float = 1e-2
  var testDescription: String { name }
}

/// Probe that turns any op into a scalar with non-zero second derivatives:
/// `sum(w1 * y + w2 * y^2)`, with fixed random weights `w1`, `w2` of the output's shape.
func probe(_ op: @escaping @Sendable ([Tensor]) -> Tensor) -> ([Tensor]) -> Tensor {
  { xs in
    let y = op(xs)
    let w1 = randomTensor(y.shape, seed: 7), w2 = randomTensor(y.shape, seed: 8)
    return (w1 * y + w2 * y * y).sum()
  }
}

func r(_ shape: [Int], _ seed: UInt64, low: Float = -1, high: Float = 1, away: Float = 0) -> Tensor {
  randomTensor(shape, seed: seed, low: low, high: high, awayFromZero: away)
}

let geometry3x3 = ConvGeometry(kernel: (3, 3), stride: (1, 1), padding: (1, 1))
let geometryStride2Same = ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (top: 0, bottom: 1, left: 0, right: 1))
let geometryDilated = ConvGeometry(kernel: (2, 2), stride: (1, 1), padding: (1, 1), dilation: (2, 2))

let opCases: [OpCase] = [
  OpCase(name: "add broadcast", inputs: [r([2, 3], 1), r([3], 2)]) { $0[0] + $0[1] },
  OpCase(name: "sub broadcast", inputs: [r([2, 1, 3], 1), r([2, 3], 2)]) { $0[0] - $0[1] },
  OpCase(name: "mul broadcast", inputs: [r([2, 3, 2], 1), r([3, 1], 2)]) { $0[0] * $0[1] },
  OpCase(name: "div broadcast", inputs: [r([2, 3], 1), r([2, 1], 2, low: 0.5, high: 2)]) { $0[0] / $0[1] },
  OpCase(name: "scalar mul/add", inputs: [r([4], 1)]) { 3 * $0[0] + 1 },
  OpCase(name: "neg", inputs: [r([5], 1)]) { -$0[0] },
  OpCase(name: "exp", inputs: [r([5], 1)]) { $0[0].exp() },
  OpCase(name: "log", inputs: [r([5], 1, low: 0.5, high: 2)]) { $0[0].log() },
  OpCase(name: "sqrt", inputs: [r([5], 1, low: 0.5, high: 2)]) { $0[0].sqrt() },
  OpCase(name: "pow 1.5", inputs: [r([5], 1, low: 0.5, high: 2)]) { $0[0].pow(1.5) },
  OpCase(name: "pow 3", inputs: [r([5], 1)]) { $0[0].pow(3) },
  OpCase(name: "abs", inputs: [r([6], 1, away: 0.1)]) { $0[0].abs() },
  OpCase(name: "sign", inputs: [r([6], 1, away: 0.1)]) { $0[0].sign() * $0[0] },
  OpCase(name: "tanh", inputs: [r([5], 1)]) { $0[0].tanh() },
  OpCase(name: "sigmoid", inputs: [r([5], 1, low: -3, high: 3)]) { $0[0].sigmoid() },
  OpCase(name: "relu", inputs: [r([6], 1, away: 0.1)]) { $0[0].relu() },
  OpCase(name: "relu6", inputs: [r([8], 1, low: -8, high: 8, away: 0.1).clamped(-5.9, 5.9)]) { $0[0].relu6() },
  // Pre-activations |x s + b| >= 0.1 keep the differences off the ReLU's kink; 12 values per
  // image and channel run the 8-lane loop and its tail.
  OpCase(name: "channelAffine scale shift relu", inputs: [r([2, 3, 3, 4], 1, away: 0.3), r([3], 2, low: 0.5, high: 1.5), r([3], 3, low: -0.05, high: 0.05)]) {
    Tensor.channelAffine($0[0], scale: $0[1], shift: $0[2], relu: true)
  },
  OpCase(name: "channelAffine shift relu", inputs: [r([2, 3, 3, 4], 1, away: 0.3), r([3], 3, low: -0.05, high: 0.05)]) {
    Tensor.channelAffine($0[0], scale: nil, shift: $0[1], relu: true)
  },
  OpCase(name: "channelAffine scale shift [N, C]", inputs: [r([5, 3], 1), r([3], 2), r([3], 3)]) {
    Tensor.channelAffine($0[0], scale: $0[1], shift: $0[2], relu: false)
  },
  OpCase(name: "channelAffine shift", inputs: [r([2, 3, 2, 5], 1), r([3], 3)]) {
    Tensor.channelAffine($0[0], scale: nil, shift: $0[1], relu: false)
  },
  OpCase(name: "sumReLU", inputs: [r([2, 3, 4], 1, away: 0.2), r([2, 3, 4], 2, low: -0.05, high: 0.05)]) {
    Tensor.sumReLU($0[0], $0[1])
  },
  OpCase(name: "softplus beta 3", inputs: [r([6], 1)]) { $0[0].softplus(beta: 3) },
  OpCase(name: "select", inputs: [r([2, 3], 1), r([2, 3], 2)]) {
    Tensor.select(Tensor(shape: [2, 3], scalars: [1, 0, 1, 0, 0, 1]), $0[0], $0[1])
  },
  OpCase(name: "maximum", inputs: [r([6], 1), r([6], 1) + Tensor([0.3, -0.3, 0.2, -0.2, 0.4, -0.4])]) { Tensor.maximum($0[0], $0[1]) },
  OpCase(name: "minimum", inputs: [Tensor([-0.5, 0.1, 0.7, -0.9, 0.4, 0.05]), Tensor([0.25])]) { Tensor.minimum($0[0], $0[1]) },
  OpCase(name: "sum axis 1", inputs: [r([2, 3, 4], 1)]) { $0[0].sum(alongAxis: 1) },
  OpCase(name: "sum axes 0,2 keep", inputs: [r([2, 3, 4], 1)]) { $0[0].sum(alongAxes: [0, 2], keepingDimensions: true) },
  OpCase(name: "mean", inputs: [r([3, 4], 1)]) { $0[0].mean(alongAxes: [1]) },
  OpCase(name: "max axis", inputs: [r([3, 4], 1)]) { $0[0].max(alongAxes: [1]) },
  OpCase(name: "max all", inputs: [r([3, 4], 1)]) { $0[0].max() },
  OpCase(name: "min axis", inputs: [r([3, 4], 1)]) { $0[0].min(alongAxes: [0]) },
  OpCase(name: "logSumExp", inputs: [r([3, 4], 1)]) { $0[0].logSumExp(alongAxes: [1]) },
  OpCase(name: "reshape", inputs: [r([2, 6], 1)]) { $0[0].reshaped([3, -1]) },
  OpCase(name: "permute", inputs: [r([2, 3, 4], 1)]) { $0[0].permuted([2, 0, 1]) },
  OpCase(name: "transpose", inputs: [r([3, 4], 1)]) { $0[0].transposed() },
  OpCase(name: "expand", inputs: [r([3, 1], 1)]) { $0[0].expand(to: [2, 3, 4]) },
  OpCase(name: "slice", inputs: [r([4, 5], 1)]) { $0[0].slice(lower: [1, 0], upper: [3, 4]) },
  OpCase(name: "pad", inputs: [r([2, 3], 1)]) { $0[0].padded(before: [1, 0], after: [0, 2], value: 0.5) },
  OpCase(name: "concatenate", inputs: [r([2, 3], 1), r([2, 2], 2)]) { Tensor.concatenate($0, alongAxis: 1) },
  OpCase(name: "gather flat", inputs: [r([5], 1)]) { $0[0].gathered(flatIndices: [4, 0, 0, 2], shape: [2, 2]) },
  OpCase(name: "scatterAdd", inputs: [r([4], 1)]) { $0[0].scatterAdded(flatIndices: [1, 1, 3, 0], shape: [5]) },
  OpCase(name: "gather rows", inputs: [r([3, 4], 1)]) { $0[0].gathered(rowIndices: [3, 0, 1]) },
  OpCase(name: "matmul", inputs: [r([3, 4], 1), r([4, 2], 2)]) { Tensor.matmul($0[0], $0[1]) },
  OpCase(name: "matmul Aᵀ", inputs: [r([4, 3], 1), r([4, 2], 2)]) { Tensor.matmul($0[0], $0[1], transposeA: true) },
  OpCase(name: "matmul Bᵀ", inputs: [r([3, 4], 1), r([2, 4], 2)]) { Tensor.matmul($0[0], $0[1], transposeB: true) },
  OpCase(name: "matmul AᵀBᵀ", inputs: [r([4, 3], 1), r([2, 4], 2)]) {
    Tensor.matmul($0[0], $0[1], transposeA: true, transposeB: true)
  },
  OpCase(name: "matmul batched", inputs: [r([2, 3, 4], 1), r([2, 4, 2], 2)]) { Tensor.matmul($0[0], $0[1]) },
  OpCase(name: "matmul 3-D x 2-D", inputs: [r([2, 3, 4], 1), r([4, 2], 2)]) { Tensor.matmul($0[0], $0[1]) },
  OpCase(name: "conv2d 3x3 pad 1", inputs: [r([2, 2, 5, 5], 1), r([3, 2, 3, 3], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometry3x3)
  },
  OpCase(name: "conv2d stride 2 TF-same", inputs: [r([1, 2, 6, 6], 1), r([2, 2, 3, 3], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometryStride2Same)
  },
  OpCase(name: "conv2d dilation 2", inputs: [r([1, 1, 5, 5], 1), r([2, 1, 2, 2], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometryDilated)
  },
  OpCase(name: "conv2d groups 2", inputs: [r([1, 4, 4, 4], 1), r([2, 2, 3, 3], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometry3x3, groups: 2)
  },
  OpCase(name: "conv2d depthwise", inputs: [r([2, 3, 4, 4], 1), r([3, 1, 3, 3], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometryStride2Same, groups: 3)
  },
  OpCase(name: "conv2d depthwise 5x5 TF-same", inputs: [r([2, 4, 6, 5], 1), r([4, 1, 5, 5], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: ConvGeometry(kernel: (5, 5), stride: (1, 1), padding: (2, 2)), groups: 4)
  },
  OpCase(name: "conv2d depthwise 5x5 stride 2 TF-same", inputs: [r([1, 3, 7, 6], 1), r([3, 1, 5, 5], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: ConvGeometry(kernel: (5, 5), stride: (2, 2), padding: (top: 2, bottom: 2, left: 1, right: 2)), groups: 3)
  },
  OpCase(name: "conv2d depthwise dilation 2", inputs: [r([1, 2, 5, 5], 1), r([2, 1, 2, 2], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: geometryDilated, groups: 2)
  },
  OpCase(name: "convInputGradient depthwise", inputs: [r([2, 3, 3, 3], 1), r([3, 1, 3, 3], 2)]) {
    Tensor.convInputGradient($0[0], $0[1], inputShape: [2, 3, 6, 6], geometry: geometryStride2Same, groups: 3)
  },
  OpCase(name: "convWeightGradient depthwise", inputs: [r([2, 3, 6, 6], 1), r([2, 3, 3, 3], 2)]) {
    Tensor.convWeightGradient($0[0], $0[1], weightShape: [3, 1, 3, 3], geometry: geometryStride2Same, groups: 3)
  },
  OpCase(name: "conv2d 1x1", inputs: [r([2, 3, 3, 3], 1), r([4, 3, 1, 1], 2)]) {
    Tensor.conv2d($0[0], $0[1], geometry: ConvGeometry(kernel: (1, 1)))
  },
  OpCase(name: "convInputGradient", inputs: [r([1, 3, 3, 3], 1), r([3, 2, 3, 3], 2)]) {
    Tensor.convInputGradient($0[0], $0[1], inputShape: [1, 2, 6, 6], geometry: geometryStride2Same)
  },
  OpCase(name: "convWeightGradient", inputs: [r([1, 2, 6, 6], 1), r([1, 2, 3, 3], 2)]) {
    Tensor.convWeightGradient($0[0], $0[1], weightShape: [2, 2, 3, 3], geometry: geometryStride2Same)
  },
  OpCase(name: "convTranspose2d", inputs: [r([1, 2, 3, 3], 1), r([2, 3, 3, 3], 2)]) {
    Tensor.convTranspose2d($0[0], $0[1], geometry: ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)), outputPadding: (1, 1))
  },
  OpCase(name: "maxPool2d", inputs: [r([1, 2, 4, 4], 1)]) { $0[0].maxPool2d(kernel: 2) },
  OpCase(name: "maxPool2d 3/2 pad 1", inputs: [r([1, 1, 5, 5], 1)]) { $0[0].maxPool2d(kernel: 3, stride: 2, padding: 1) },
  OpCase(name: "avgPool2d", inputs: [r([1, 2, 4, 4], 1)]) { $0[0].avgPool2d(kernel: 2) },
  OpCase(name: "avgPool2d 3/1 pad 1", inputs: [r([1, 2, 4, 4], 1)]) { $0[0].avgPool2d(kernel: 3, stride: 1, padding: 1) },
  OpCase(name: "globalAvgPool2d", inputs: [r([2, 3, 2, 2], 1)]) { $0[0].globalAvgPool2d() },
  OpCase(name: "upsampleNearest", inputs: [r([1, 2, 2, 2], 1)]) { $0[0].upsampleNearest(factor: 2) },
  OpCase(name: "resizeBilinear", inputs: [r([1, 2, 3, 2], 1)]) { $0[0].resizeBilinear(height: 5, width: 4) },
  OpCase(name: "softmax", inputs: [r([2, 4], 1)]) { $0[0].softmax(alongAxis: 1) },
  OpCase(name: "logSoftmax", inputs: [r([2, 4], 1)]) { $0[0].logSoftmax(alongAxis: 1) },
  OpCase(name: "crossEntropy", inputs: [r([3, 4], 1)]) { Tensor.crossEntropy(logits: $0[0], labels: [1, 3, 0]) },
  OpCase(name: "meanSquaredError", inputs: [r([3, 4], 1), r([3, 4], 2)]) { Tensor.meanSquaredError($0[0], $0[1]) },
]

@Suite("Primitive gradients")
struct PrimitiveGradientTests {
  @Test("first order matches central differences", arguments: opCases)
  func firstOrder(_ c: OpCase) {
    let check = checkGradients(of: probe(c.op), at: c.inputs, epsilon: c.epsilon)
    #expect(check.error < 2e-2, "\(c.name): analytic \(check.analytic) vs numerical \(check.numerical)")
  }

  @Test("second order (Hessian-vector product by double backprop)", arguments: opCases)
  func secondOrder(_ c: OpCase) {
    let check = checkSecondOrder(of: probe(c.op), at: c.inputs, epsilon: c.epsilon)
    #expect(check.error < 3e-2, "\(c.name): analytic \(check.analytic) vs numerical \(check.numerical)")
  }
}
