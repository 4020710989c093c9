import ModelFool
import TestSupport
import Testing

/// A convolution followed by a frozen BatchNorm runs as one convolution with the BatchNorm folded
/// in (a large output) or as the convolution and one scale-and-shift pass (a small output): either
/// way the same values and the same first- and second-order gradients as the two layers called one
/// by one.
@Suite struct LayerChainTests {
  /// A conv (with bias, 2 groups, stride 2) and a BatchNorm with seeded statistics, scale and
  /// shift, in a Sequential whose last entry keeps the chain from ending on the pair.
  func pair() -> (net: Sequential, conv: Conv2D, bn: BatchNorm) {
    let conv = Conv2D(inputChannels: 4, outputChannels: 6, kernelSize: 3, stride: 2, padding: 1, groups: 2, bias: true)
    conv.weight.value = randomTensor(conv.weight.shape, seed: 1, low: -0.5, high: 0.5)
    conv.bias!.value = randomTensor([6], seed: 2, low: -0.2, high: 0.2)
    let bn = BatchNorm(channels: 6)
    bn.weight.value = randomTensor([6], seed: 3, low: 0.5, high: 1.5)
    bn.bias.value = randomTensor([6], seed: 4, low: -0.3, high: 0.3)
    bn.runningMean.value = randomTensor([6], seed: 5, low: -0.2, high: 0.2)
    bn.runningVariance.value = randomTensor([6], seed: 6, low: 0.5, high: 2)
    bn.isTraining = false
    let net = Sequential(named: [("conv", conv), ("bn", bn), ("act", ActivationLayer(.softplus(beta: 3)))])
    return (net, conv, bn)
  }

  /// `sum(m * f(x))` and its input gradient's squared norm (the shape of a fooling loss), for the
  /// folded chain and for the layers called one by one.
  func losses(_ p: (net: Sequential, conv: Conv2D, bn: BatchNorm), _ x: Tensor, folded: Bool) -> (Tensor, Tensor) {
    let m = randomTensor([2, 6, x.shape[2] / 2, x.shape[3] / 2], seed: 8, low: -1, high: 1)
    let xv = x.variable()
    let y = folded ? p.net(xv) : p.net.entries[2].layer(p.bn(p.conv(xv)))
    let value = (y * m).sum()
    let g = gradients(of: value, withRespectTo: [xv], createGraph: true)[0]
    return (value, (g * g).sum())
  }

  /// 8x8 inputs give 192 outputs for the 108 weights (unfolded), 32x32 give 3,072 (folded).
  @Test(arguments: [8, 32]) func foldedPairMatchesLayersOneByOne(size: Int) throws {
    let p = pair()
    let x = randomTensor([2, 4, size, size], seed: 7, low: -1, high: 1)
    let (v1, s1) = losses(p, x, folded: true)
    let (v0, s0) = losses(p, x, folded: false)
    #expect(closeness(v1, v0, rtol: 1e-5) <= 1)
    let params = [p.conv.weight.value, p.conv.bias!.value, p.bn.weight.value, p.bn.bias.value]
    // First order (the value) and second order (the input-gradient norm) with respect to every
    // parameter, the BatchNorm's scale and shift included.
    for (a, b) in zip(gradients(of: v1, withRespectTo: params), gradients(of: v0, withRespectTo: params)) {
      #expect(closeness(a, b, rtol: 1e-4, atol: 1e-5) <= 1, "\(a.scalars.prefix(4)) vs \(b.scalars.prefix(4))")
    }
    for (a, b) in zip(gradients(of: s1, withRespectTo: params), gradients(of: s0, withRespectTo: params)) {
      #expect(closeness(a, b, rtol: 1e-4, atol: 1e-5) <= 1, "\(a.scalars.prefix(4)) vs \(b.scalars.prefix(4))")
    }
  }

  /// A tap on the convolution sees its own output (the pair is not folded then), and a
  /// BatchNorm in training mode normalises by the batch (no fold).
  @Test func tapsAndTrainingModeKeepThePairApart() throws {
    let p = pair()
    let x = randomTensor([2, 4, 8, 8], seed: 9, low: -1, high: 1)
    let (_, captured) = try p.net.forward(x, capturingOutputsOf: ["conv"])
    #expect(closeness(try #require(captured["conv"]), p.conv(x), rtol: 1e-6) <= 1)
    p.bn.isTraining = true
    let train = p.net(x)
    p.bn.isTraining = true
    let manual = p.net.entries[2].layer(p.bn(p.conv(x)))
    #expect(closeness(train, manual, rtol: 1e-5) <= 1)
    // The batch statistics make every channel's BatchNorm output mean equal to its shift.
    let means = p.bn(p.conv(x)).mean(alongAxes: [0, 2, 3])
    #expect(closeness(means, p.bn.bias.value, rtol: 1e-4, atol: 1e-4) <= 1)
  }

  /// The runs that end in a ReLU: a convolution with a bias, a frozen BatchNorm alone, and a
  /// convolution with its BatchNorm, each followed by a ReLU, against the same layers called one by
  /// one (values, first and second order); a ReLU switched to softplus is not joined.
  @Test func reluRunsMatchLayersOneByOne() throws {
    let p = pair()
    let conv2 = Conv2D(inputChannels: 6, outputChannels: 6, kernelSize: 3, padding: 1, bias: true)
    conv2.weight.value = randomTensor(conv2.weight.shape, seed: 10, low: -0.3, high: 0.3)
    conv2.bias!.value = randomTensor([6], seed: 11, low: -0.2, high: 0.2)
    let bn2 = BatchNorm(channels: 6)
    bn2.weight.value = randomTensor([6], seed: 12, low: 0.5, high: 1.5)
    bn2.bias.value = randomTensor([6], seed: 13, low: -0.3, high: 0.3)
    bn2.isTraining = false
    let layers: [(String, any Layer)] = [
      ("conv", p.conv), ("bn", p.bn), ("relu1", ActivationLayer(.relu)),  // folded convolution, ReLU
      ("conv2", conv2), ("relu2", ActivationLayer(.relu)),  // convolution's bias, ReLU
      ("bn2", bn2), ("relu3", ActivationLayer(.relu)),  // BatchNorm, ReLU
      ("act", ActivationLayer(.softplus(beta: 3))),
    ]
    let net = Sequential(named: layers)
    let x = randomTensor([2, 4, 8, 8], seed: 14, low: -1, high: 1)
    let m = randomTensor([2, 6, 4, 4], seed: 8, low: -1, high: 1)
    func losses(fused: Bool) -> (Tensor, Tensor) {
      let xv = x.variable()
      let y = fused ? net(xv) : layers.reduce(xv) { $1.1($0) }
      let value = (y * m).sum()
      let g = gradients(of: value, withRespectTo: [xv], createGraph: true)[0]
      return (value, (g * g).sum())
    }
    let (v1, s1) = losses(fused: true)
    let (v0, s0) = losses(fused: false)
    #expect(closeness(v1, v0, rtol: 1e-5) <= 1)
    let params = [p.conv.weight.value, p.conv.bias!.value, p.bn.weight.value, p.bn.bias.value,
                  conv2.weight.value, conv2.bias!.value, bn2.weight.value, bn2.bias.value]
    for (a, b) in zip(gradients(of: v1, withRespectTo: params), gradients(of: v0, withRespectTo: params)) {
      #expect(closeness(a, b, rtol: 1e-4, atol: 1e-5) <= 1, "\(a.scalars.prefix(4)) vs \(b.scalars.prefix(4))")
    }
    for (a, b) in zip(gradients(of: s1, withRespectTo: params), gradients(of: s0, withRespectTo: params)) {
      #expect(closeness(a, b, rtol: 1e-4, atol: 1e-5) <= 1, "\(a.scalars.prefix(4)) vs \(b.scalars.prefix(4))")
    }
    // A tap on a ReLU sees its own output (its run is left apart).
    let (_, captured) = try net.forward(x, capturingOutputsOf: ["relu2"])
    #expect(closeness(try #require(captured["relu2"]), layers.prefix(5).reduce(x) { $1.1($0) }, rtol: 1e-5) <= 1)
    // Switched to softplus, the ReLU layers stay layers: the chain follows the switch.
    for e in net.entries { (e.layer as? ActivationLayer)?.activation = .softplus(beta: 2) }
    let smooth = layers.dropLast().reduce(x) { $1.1($0) }.softplus(beta: 2)
    #expect(closeness(net(x), smooth, rtol: 1e-5) <= 1)
  }
}
