import ModelFool
import TestSupport
import Testing

/// Composites as data: every kind's rule is honoured, and only where it applies; presets,
/// descriptions and errors; the BatchNorm-folding canonisation keeps the gradient link.
@Suite struct LRPCompositeTests {
  static func lrp(_ model: Model, _ x: Tensor, _ c: LRPComposite, stopAt: String? = nil) throws -> Tensor {
    try LRP.relevance(model: model, input: x, classes: [0, 1], composite: c, stopAt: stopAt).relevance
  }

  /// Epsilon named for every kind (the first layer included) is the uniform epsilon rule, bit for
  /// bit; so is the explicitly spelt Heo composite and the preset.
  @Test func explicitCompositesEqualPresets() throws {
    let model = ExplainLRPTests.smallCNN(bias: true)
    let x = randomTensor([2, 1, 8, 8], seed: 30, low: 0, high: 1)
    let everywhere = LRPComposite([.first: .epsilon(0.05), .dense: .epsilon(0.05), .convolution: .epsilon(0.05)])
    #expect(try Self.lrp(model, x, everywhere).scalars == Self.lrp(model, x, .uniform(.epsilon(0.05))).scalars)
    let heo = LRPComposite([.dense: .epsilon(0.01), .convolution: .alpha1Beta0], stabilizer: 0.01, name: "heo")
    #expect(heo == .heo)
    #expect(try Self.lrp(model, x, heo).scalars == Self.lrp(model, x, .heo).scalars)
  }

  /// LRP-0 (epsilon -> 0) on a ReLU MLP with biases is gradient x input (each layer gives
  /// `a * W^T (R / z)` with `R = z * dlogit/dz`).
  @Test func lrpZeroOnDenseNetworkIsGradientTimesInput() throws {
    let model = try ModelZoo.build(architecture: "mlp", options: ["inputs": "6", "hidden": "8,5", "classes": "3", "seed": "4"])
    let x = randomTensor([2, 6], seed: 31)
    let r = try Self.lrp(model, x, LRPComposite([.dense: .epsilon(1e-9)]))
    var options = ExplanationOptions()
    options.postProcess = false
    let gx = try explanation(model, x, labels: [0, 1], method: .gradTimesInput, options: options).raw
    #expect(r.scalars.contains { abs($0) > 1e-2 })
    #expect(closeness(r, gx, rtol: 1e-4, atol: 1e-6) <= 1, "\(r.scalars) vs \(gx.scalars)")
  }

  /// Changing one kind's rule changes the relevance below the layers of that kind only. In the
  /// small CNN (conv "0", "3", "5", GAP "7", dense "8"): the relevance at the GAP input comes from
  /// the dense rule alone, and at the input of "3" from every layer but the first.
  @Test func changingOneKindChangesOnlyItsLayers() throws {
    let model = ExplainLRPTests.smallCNN(bias: true)
    let x = randomTensor([2, 1, 8, 8], seed: 32, low: 0, high: 1)
    let base = LRPComposite.heo
    var conv = base, first = base
    conv[.convolution] = .zPlus
    first[.first] = .zB(low: 0, high: 1)
    #expect(try Self.lrp(model, x, conv, stopAt: "7").scalars == Self.lrp(model, x, base, stopAt: "7").scalars)
    #expect(try relativeError(Self.lrp(model, x, conv), Self.lrp(model, x, base)) > 1e-2)
    #expect(try Self.lrp(model, x, first, stopAt: "3").scalars == Self.lrp(model, x, base, stopAt: "3").scalars)
    #expect(try relativeError(Self.lrp(model, x, first), Self.lrp(model, x, base)) > 1e-2)
    // The dense rule alone sets the GAP input's total: sum_i h_i W_ci = z - b_c, so the epsilon
    // rule leaves (z - b_c) z / (z + e sign z), which the global average pool conserves.
    let logits = model(x).scalars
    let bias: [Float] = [0.1, -0.1]
    for e: Float in [0.01, 0.5] {
      var dense = base
      dense[.dense] = .epsilon(e)
      let sums = try Self.lrp(model, x, dense, stopAt: "7").reshaped([2, -1]).sum(alongAxis: 1).scalars
      for n in 0..<2 {
        let z = logits[n * 3 + n]
        let expected = (z - bias[n]) * z / (z + (z >= 0 ? e : -e))
        #expect(abs(sums[n] - expected) <= 1e-4 * max(1, abs(expected)), "e \(e), example \(n): \(sums[n]) vs \(expected)")
      }
    }
  }

  /// Epsilon -> 0 on the dense layer and z+ on every conv conserve relevance on a bias-free ReLU
  /// CNN with non-negative input (relevance only reaches units with `z > 0`, where `z+ >= z > 0`).
  @Test func epsilonAndZPlusCompositeConserves() throws {
    let model = ExplainLRPTests.smallCNN(bias: false)
    let x = randomTensor([2, 1, 8, 8], seed: 33, low: 0, high: 1)
    let c = LRPComposite([.dense: .epsilon(1e-9), .convolution: .zPlus], stabilizer: 1e-9)
    let sums = try Self.lrp(model, x, c).reshaped([2, -1]).sum(alongAxis: 1)
    let target = model(x).gathered(rowIndices: [0, 1])
    #expect(target.scalars.allSatisfy { abs($0) > 1e-3 })
    #expect(closeness(sums, target, rtol: 1e-4, atol: 1e-6) <= 1, "\(sums.scalars) vs \(target.scalars)")
  }

  @Test func missingKindIsAOneLineError() throws {
    let model = ExplainLRPTests.smallCNN()
    let x = randomTensor([2, 1, 8, 8], seed: 34, low: 0, high: 1)
    #expect(throws: ExplanationError("lrp: composite 'custom' has no rule for layer '5' (conv)")) {
      try Self.lrp(model, x, LRPComposite([.dense: .epsilon(0.01)]))
    }
  }

  @Test func descriptionsListKindsAndCanonizers() throws {
    #expect(LRPComposite.heo.description == "heo: dense epsilon(0.01), conv alpha1beta0")
    #expect(
      try LRPComposite(parsing: "dombrowski,fold").description
        == "dombrowski,fold: dense z+, conv z+, first zB(0.0, 1.0), BatchNorm folded")
    #expect(try LRPComposite(parsing: "zplus") == LRPComposite([.dense: .zPlus, .convolution: .zPlus], stabilizer: 1e-9, name: "z+"))
    #expect(ExplanationMethod.allCases.filter { !$0.usesBetaSmoothing } == [.lrpTarget, .lrp])
  }

  /// With BatchNorm folded, the relevance is differentiable with respect to the BatchNorm's
  /// `weight` and `bias` and the conv weight: double backprop matches central differences
  /// (softplus keeps the forward pass smooth; positive conv weights, biases and BatchNorm shifts
  /// keep the folded layer's `z` away from the stabiliser's sign switch at 0).
  @Test func foldedBatchNormKeepsGradientLinkToWeights() throws {
    let conv = Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, padding: 1, seed: 35)
    conv.weight.value = randomTensor(conv.weight.shape, seed: 35, low: 0.1, high: 0.8)
    conv.bias!.value = Tensor([0.05, 0.05, 0.05])
    let bn = BatchNorm(channels: 3)
    bn.runningVariance.value = Tensor([0.5, 2, 1])
    bn.isTraining = false
    let model = Model(
      network: Sequential([conv, bn, ActivationLayer(.softplus(beta: 1)), GlobalAvgPool2D(), Dense(inputSize: 3, outputSize: 2, seed: 36)]),
      architecture: "bn", inputShape: [1, 5, 5])
    let x = randomTensor([2, 1, 5, 5], seed: 37, low: 0, high: 1)
    let mix = randomTensor([2, 1, 5, 5], seed: 38)
    let composite = try LRPComposite(parsing: "epsilon,fold")
    let params = [bn.weight, bn.bias, conv.weight]
    let start = [Tensor([1.5, 0.5, 2]), Tensor([0.1, 0.2, 0.3]), conv.weight.value]
    let loss = { (values: [Tensor]) -> Tensor in
      for (p, v) in zip(params, values) { p.value = v }
      return (try! Self.lrp(model, x, composite) * mix).sum()
    }
    let numerical = numericalGradients(of: loss, at: start, epsilon: 1e-3)
    _ = loss(start)
    let analytic = gradients(of: (try Self.lrp(model, x, composite) * mix).sum(), withRespectTo: params.map(\.value))
    for (a, n) in zip(analytic, numerical) {
      #expect(a.scalars.contains { abs($0) > 1e-3 })
      #expect(relativeError(a, n, floor: 1e-3) < 2e-2, "\(a.scalars) vs \(n.scalars)")
    }
  }
}
