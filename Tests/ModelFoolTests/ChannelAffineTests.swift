import ModelFool
import TestSupport
import Testing

/// The fused per-channel affine map with ReLU: the same bits as the ops one by one in the forward
/// pass, its one-pass VJP against the composed one, and the same bits on 1 and 2 threads. (Its
/// first and second derivatives against differences are rows of the primitive gradient table.)
@Suite struct ChannelAffineTests {
  /// Above the size from which kernels split across threads: 960 values per image and channel (a
  /// multiple of the 8 lanes) and 667 (with a tail of 3).
  let x = randomTensor([2, 16, 32, 30], seed: 1, low: -1, high: 1)
  let odd = randomTensor([3, 16, 23, 29], seed: 2, low: -1, high: 1)
  let scale = randomTensor([16], seed: 3, low: 0.5, high: 1.5)
  let shift = randomTensor([16], seed: 4, low: -0.3, high: 0.3)

  @Test(arguments: [true, false], [true, false])
  func forwardHasTheBitsOfTheOpsOneByOne(relu: Bool, scaled: Bool) {
    for x in [x, odd] {
      let s = scale.reshaped([1, 16, 1, 1]), b = shift.reshaped([1, 16, 1, 1])
      var expected = scaled ? x * s + b : x + b
      if relu { expected = expected.relu() }
      let fused = Tensor.channelAffine(x, scale: scaled ? scale : nil, shift: shift, relu: relu)
      #expect(fused.scalars == expected.scalars)
    }
  }

  /// `sum(w * f(x, s, b))` differentiated with respect to all three, by the one-pass VJP
  /// (`createGraph: false`) and by the composed one (`createGraph: true`).
  func gradients(_ x: Tensor, relu: Bool, scaled: Bool, createGraph: Bool) -> [Tensor] {
    let (xv, sv, bv) = (x.variable(), scale.variable(), shift.variable())
    let w = randomTensor(x.shape, seed: 5, low: -1, high: 1)
    let y = Tensor.channelAffine(xv, scale: scaled ? sv : nil, shift: bv, relu: relu)
    let wrt = scaled ? [xv, sv, bv] : [xv, bv]
    return ModelFool.gradients(of: (w * y).sum(), withRespectTo: wrt, createGraph: createGraph)
  }

  @Test(arguments: [true, false], [true, false])
  func onePassGradientsMatchTheComposedOnes(relu: Bool, scaled: Bool) {
    for x in [x, odd] {
      let fused = gradients(x, relu: relu, scaled: scaled, createGraph: false)
      let composed = gradients(x, relu: relu, scaled: scaled, createGraph: true)
      for (a, b) in zip(fused, composed) {
        #expect(closeness(a, b, rtol: 1e-5, atol: 1e-4) <= 1, "\(a.scalars.prefix(4)) vs \(b.scalars.prefix(4))")
      }
      // The input's gradient by hand: w where the output is positive (ReLU), times the scale.
      let y = Tensor.channelAffine(x, scale: scaled ? scale : nil, shift: shift, relu: relu)
      let w = randomTensor(x.shape, seed: 5, low: -1, high: 1)
      let inner = x.shape[2] * x.shape[3]
      let expected = (0..<x.count).map { i -> Float in
        let c = (i / inner) % 16
        return (relu && !(y.scalars[i] > 0) ? 0 : w.scalars[i]) * (scaled ? scale.scalars[c] : 1)
      }
      #expect(fused[0].scalars == expected)
    }
  }

  @Test func oneAndTwoThreadsGiveTheSameBits() {
    let one = EngineThreads.withCount(1) { gradients(odd, relu: true, scaled: true, createGraph: false) }
    let two = EngineThreads.withCount(2) { gradients(odd, relu: true, scaled: true, createGraph: false) }
    for (a, b) in zip(one, two) { #expect(a.scalars == b.scalars) }
  }
}
