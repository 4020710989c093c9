import ModelFool
import TestSupport
import Testing

/// LRP: hand-computed values per rule, conservation, z+ sign, BatchNorm folding, residual and
/// DenseNet splits.
@Suite struct ExplainLRPTests {
  /// x -> Dense(W1 = [[1, -0.5], [-1, 1]], b1 = [0.5, -0.25]) -> ReLU -> Dense(W2 = [[2, -1]], b2 = 0.1).
  /// For x = [1, 2]: h = [0.5, 0.75], logit = 0.35.
  static func tiny() -> Model {
    let net = Sequential([
      Dense(weight: Tensor(shape: [2, 2], scalars: [1, -0.5, -1, 1]), bias: Tensor([0.5, -0.25])),
      ActivationLayer(.relu),
      Dense(weight: Tensor(shape: [1, 2], scalars: [2, -1]), bias: Tensor([0.1])),
    ])
    return Model(network: net, architecture: "tiny", inputShape: [2])
  }

  static func lrp(_ model: Model, _ x: Tensor, _ classes: [Int]?, _ c: LRPComposite) throws -> Tensor {
    try LRP.relevance(model: model, input: x, classes: classes, composite: c).relevance
  }

  /// Hand-computed (epsilon -> 0): layer 2 gives R_h = h * W2 * R / z = [0.5 * 2, 0.75 * -1] =
  /// [1, -0.75]; layer 1: s = R_h / z1 = [2, -1], W1^T s = [3, -2], R_x = x * [3, -2] = [3, -4].
  /// The other rows follow the formulas of ``LRPRule`` step by step (computed in float64).
  @Test(arguments: [
    ("epsilon=1e-9", [Float(3), -4]),
    ("epsilon", [2.86574791, -3.82517773]),
    ("zplus", [0.35, 0]),
    ("alpha1beta0", [0.20881809, 0]),
    ("alpha2beta1", [1.10939517, -1.31173947]),
    ("alpha1beta0+2b", [0.14390856, 0]),
    ("gamma", [1.30121447, -1.59871436]),
  ])
  func handComputedRules(name: String, expected: [Float]) throws {
    let r = try Self.lrp(Self.tiny(), Tensor(shape: [1, 2], scalars: [1, 2]), [0], LRPComposite(parsing: name))
    #expect(closeness(r, Tensor(shape: [1, 2], scalars: expected), rtol: 1e-5, atol: 1e-6) <= 1, "\(name): \(r.scalars)")
  }

  /// zB(0, 2) on the first layer, epsilon 0.01 above: R_h = [0.97560976, -0.73770492] (epsilon
  /// rule), then z = W1 x - W1+ l - W1- h.
  @Test func handComputedZB() throws {
    let c = LRPComposite([.dense: .epsilon(0.01), .convolution: .epsilon(0.01), .first: .zB(low: 0, high: 2)], stabilizer: 0.01)
    let r = try Self.lrp(Self.tiny(), Tensor(shape: [1, 2], scalars: [1, 2]), [0], c)
    #expect(closeness(r, Tensor(shape: [1, 2], scalars: [0.7203482, -0.48449612]), rtol: 1e-5, atol: 1e-6) <= 1)
  }

  @Test func epsilonConservesRelevanceOnReLUMLP() throws {
    let net = Sequential([
      Dense(weight: randomTensor([8, 5], seed: 1), bias: Tensor.zeros([8])), ActivationLayer(.relu),
      Dense(weight: randomTensor([6, 8], seed: 2), bias: Tensor.zeros([6])), ActivationLayer(.relu),
      Dense(weight: randomTensor([3, 6], seed: 3), bias: Tensor.zeros([3])),
    ])
    let model = Model(network: net, architecture: "mlp-test", inputShape: [5])
    let x = randomTensor([4, 5], seed: 4)
    try expectConservation(model, x)
  }

  /// conv -> relu -> maxpool -> depthwise conv -> relu -> 1x1 conv -> relu -> GAP -> dense, zero biases.
  static func smallCNN(bias: Bool = false) -> Model {
    let net = Sequential([
      Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1, bias: bias, seed: 1), ActivationLayer(.relu),
      MaxPool2D(kernelSize: 2),
      Conv2D(inputChannels: 4, outputChannels: 4, kernelSize: 3, padding: 1, groups: 4, bias: bias, seed: 2),
      ActivationLayer(.relu),
      Conv2D(inputChannels: 4, outputChannels: 6, kernelSize: 1, bias: bias, seed: 3), ActivationLayer(.relu),
      GlobalAvgPool2D(), Dense(weight: randomTensor([3, 6], seed: 5), bias: bias ? Tensor([0.1, -0.1, 0.2]) : Tensor.zeros([3])),
    ])
    return Model(network: net, architecture: "cnn-test", inputShape: [1, 8, 8], targetLayer: "3")
  }

  @Test func epsilonConservesRelevanceOnCNN() throws {
    try expectConservation(Self.smallCNN(), randomTensor([3, 1, 8, 8], seed: 6, low: 0, high: 1))
  }

  func expectConservation(_ model: Model, _ x: Tensor) throws {
    let c = LRPComposite.uniform(.epsilon(1e-9))
    let (r, logits, classes) = try LRP.relevance(model: model, input: x, classes: nil, composite: c)
    let perExample = r.reshaped([x.shape[0], -1]).sum(alongAxis: 1)
    let target = logits.gathered(rowIndices: classes)
    #expect(target.scalars.allSatisfy { abs($0) > 1e-3 })
    #expect(closeness(perExample, target, rtol: 1e-4, atol: 1e-6) <= 1, "\(perExample.scalars) vs \(target.scalars)")
  }

  @Test func zPlusIsNonNegativeOnNonNegativeInput() throws {
    let model = Self.smallCNN(bias: true)
    let x = randomTensor([4, 1, 8, 8], seed: 7, low: 0, high: 1)
    let logits = model(x)
    // Explain, per example, a class with a positive logit (z+ keeps the sign of the start relevance).
    let classes = (0..<4).map { n in (0..<3).max(by: { logits.scalars[n * 3 + $0] < logits.scalars[n * 3 + $1] })! }
    #expect(classes.enumerated().allSatisfy { logits.scalars[$0.offset * 3 + $0.element] > 0 })
    let r = try Self.lrp(model, x, classes, .uniform(.zPlus, stabilizer: 1e-9))
    #expect(r.scalars.min()! >= 0)
    #expect(r.scalars.max()! > 0)
    // Biases are ignored by z+, so relevance is conserved (up to dead units): sum <= logit.
    let sums = r.reshaped([4, -1]).sum(alongAxis: 1).scalars
    for n in 0..<4 { #expect(sums[n] <= logits.scalars[n * 3 + classes[n]] * 1.0001) }
  }

  /// Folding an evaluation-mode BatchNorm into the preceding conv gives the same relevance as a
  /// network built with the folded conv (`W' = W * scale`, `b' = b * scale + shift`).
  @Test func batchNormFoldingMatchesFoldedNetwork() throws {
    let conv = Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, padding: 1, seed: 8)
    let bn = BatchNorm(channels: 3)
    bn.weight.value = Tensor([1.5, 0.5, 2])
    bn.bias.value = Tensor([0.1, -0.2, 0.3])
    bn.runningMean.value = Tensor([0.2, -0.1, 0])
    bn.runningVariance.value = Tensor([0.5, 2, 1])
    bn.isTraining = false
    let dense = Dense(weight: randomTensor([2, 3], seed: 9), bias: Tensor([0.05, -0.05]))
    let model = Model(
      network: Sequential([conv, bn, ActivationLayer(.relu), GlobalAvgPool2D(), dense]), architecture: "bn", inputShape: [1, 5, 5])
    let (scale, shift) = bn.evaluationAffine()
    let folded = Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, padding: 1)
    folded.weight.value = conv.weight.value * scale.reshaped([3, 1, 1, 1])
    folded.bias!.value = conv.bias!.value * scale + shift
    let reference = Model(
      network: Sequential([folded, ActivationLayer(.relu), GlobalAvgPool2D(), dense]), architecture: "ref", inputShape: [1, 5, 5])
    let x = randomTensor([2, 1, 5, 5], seed: 10, low: 0, high: 1)
    let a = try Self.lrp(model, x, [0, 1], LRPComposite(parsing: "epsilon,fold"))
    let b = try Self.lrp(reference, x, [0, 1], .uniform(.epsilon(0.01)))
    #expect(closeness(a, b, rtol: 1e-4, atol: 1e-6) <= 1)
    // Pass-through differs (the BatchNorm's scale is ignored there).
    let c = try Self.lrp(model, x, [0, 1], .uniform(.epsilon(0.01)))
    #expect(relativeError(c, b) > 1e-3)
  }

  /// Residual `f(x) + x` with non-negative branches and a DenseNet layer `concat(x, f(x))`:
  /// the positive-part split and the channel split conserve relevance (epsilon -> 0, no biases).
  @Test func residualAndDenseNetSplitsConserve() throws {
    let res = Sequential([
      Dense(weight: randomTensor([3, 3], seed: 11, low: 0.1, high: 1), bias: Tensor.zeros([3])), ActivationLayer(.relu),
      Residual(body: [("fc", Dense(weight: randomTensor([3, 3], seed: 12, low: 0.1, high: 1), bias: Tensor.zeros([3])))],
               post: ("relu", ActivationLayer(.relu))),
      Dense(weight: randomTensor([2, 3], seed: 13), bias: Tensor.zeros([2])),
    ])
    try expectConservation(Model(network: res, architecture: "res", inputShape: [3]), randomTensor([2, 3], seed: 14, low: 0, high: 1))

    let layer = DenseLayer(inputChannels: 2, growthRate: 2, bottleneckFactor: 1, seed: 15)
    layer.setTraining(false)
    let dense = Sequential([
      Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1, bias: false, seed: 16), ActivationLayer(.relu),
      layer, GlobalAvgPool2D(), Dense(weight: randomTensor([2, 4], seed: 17), bias: Tensor.zeros([2])),
    ])
    try expectConservation(Model(network: dense, architecture: "dn", inputShape: [1, 6, 6]), randomTensor([2, 1, 6, 6], seed: 18, low: 0, high: 1))
  }

  /// LRP_T stops at the input of the target layer: for target "3" (the depthwise conv) its shape
  /// is that input's, and with epsilon -> 0 its sum is still the logit.
  @Test func lrpTargetStopsAtLayerInput() throws {
    let model = Self.smallCNN()
    let x = randomTensor([2, 1, 8, 8], seed: 19, low: 0, high: 1)
    let (r, logits, classes) = try LRP.relevance(model: model, input: x, classes: [0, 1], composite: .uniform(.epsilon(1e-9)), stopAt: "3")
    #expect(r.shape == [2, 4, 4, 4])
    #expect(closeness(r.reshaped([2, -1]).sum(alongAxis: 1), logits.gathered(rowIndices: classes), rtol: 1e-4, atol: 1e-6) <= 1)
    let h = try explain(model, x, labels: [0, 1], method: .lrpTarget)
    #expect(h.shape == [2, 4, 4] && h.scalars.min()! == 0 && abs(h.scalars.max()! - 1) < 1e-5)
  }

  @Test func compositeParsing() throws {
    #expect(try LRPComposite(parsing: "heo") == .heo)
    #expect(try LRPComposite(parsing: "Dombrowski")[.first] == .zB(low: 0, high: 1))
    #expect(try LRPComposite(parsing: "alpha2beta1")[.convolution] == .alphaBeta(alpha: 2, beta: 1, doubleBias: false))
    #expect(try LRPComposite(parsing: "gamma=0.5")[.dense] == .gamma(0.5))
    #expect(throws: ExplanationError.self) { try LRPComposite(parsing: "banana") }
  }
}
