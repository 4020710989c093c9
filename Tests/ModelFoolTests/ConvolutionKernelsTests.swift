import ModelFool
import Testing

/// The convolutions the engine gives to oneDNN (ConvolutionKernels.swift) against its own kernels,
/// and their independence of the thread count.
@Suite("Convolution kernels: oneDNN and ours", .serialized)
struct ConvolutionKernelsTests {
  struct Case: CustomTestStringConvertible, Sendable {
    let input: [Int], weight: [Int], groups: Int
    let geometry: ConvGeometry
    var testDescription: String { "\(input) \(weight) g\(groups) \(geometry)" }
  }

  /// Dense 3x3 with >= 16 input channels (strided, asymmetric padding, dilated) and depthwise 3x3 and
  /// 5x5; batches of 3 and 17 (calls of 1 and 2 images, the last one shorter).
  static let chosen: [Case] = [
    Case(input: [3, 16, 9, 9], weight: [8, 16, 3, 3], groups: 1, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1))),
    Case(input: [17, 24, 10, 7], weight: [16, 24, 3, 3], groups: 1,
      geometry: ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (top: 0, bottom: 1, left: 1, right: 0))),
    Case(input: [3, 16, 11, 11], weight: [4, 16, 3, 2], groups: 1,
      geometry: ConvGeometry(kernel: (3, 2), padding: (2, 1), dilation: (2, 1))),
    Case(input: [3, 8, 12, 12], weight: [8, 1, 3, 3], groups: 8,
      geometry: ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (top: 0, bottom: 1, left: 0, right: 1))),
    Case(input: [17, 16, 9, 9], weight: [16, 1, 5, 5], groups: 16, geometry: ConvGeometry(kernel: (5, 5), padding: (2, 2))),
  ]

  static func withOwnKernels<R>(_ own: Bool, _ body: () throws -> R) rethrows -> R {
    let saved = ConvolutionKernels.useOneDNN
    ConvolutionKernels.useOneDNN = !own
    defer { ConvolutionKernels.useOneDNN = saved }
    return try body()
  }

  /// Forward and input gradient of `c`: (y, dx).
  static func passes(_ c: Case) -> (Tensor, Tensor) {
    var g = SeededGenerator(seed: 5)
    let x = Tensor.randomNormal(c.input, using: &g), w = Tensor.randomNormal(c.weight, using: &g)
    let y = Tensor.conv2d(x, w, geometry: c.geometry, groups: c.groups)
    let dy = Tensor.randomNormal(y.shape, using: &g)
    return (y, Tensor.convInputGradient(dy, w, inputShape: c.input, geometry: c.geometry, groups: c.groups))
  }

  static func maxRelativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
    let scale = a.scalars.map { abs($0) }.max() ?? 0
    return (zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0) / max(scale, 1e-30)
  }

  @Test(arguments: chosen)
  func oneDNNRunsTheChosenShapesAndAgreesWithOurKernels(_ c: Case) {
    for pass in [OneDNNConvolution.Pass.forward, .backwardData] {
      let name = ConvolutionKernels.oneDNNImplementation(pass, input: c.input, weight: c.weight, geometry: c.geometry, groups: c.groups)
      #expect(name?.hasPrefix("jit") == true, "\(pass): \(name ?? "our kernels")")
    }
    let ours = Self.withOwnKernels(true) { Self.passes(c) }
    let oneDNN = Self.withOwnKernels(false) { Self.passes(c) }
    #expect(ours.0.shape == oneDNN.0.shape && ours.1.shape == oneDNN.1.shape)
    #expect(Self.maxRelativeDifference(ours.0, oneDNN.0) < 2e-6)
    #expect(Self.maxRelativeDifference(ours.1, oneDNN.1) < 2e-6)
  }

  @Test func ourKernelsRunTheShapesOneDNNLost() {
    let pad1 = ConvGeometry(kernel: (3, 3), padding: (1, 1)), pointwise = ConvGeometry(kernel: (1, 1))
    // 3->16 (backward-data 0.29x), 1x1 (the reorders cost more), any weight gradient.
    #expect(ConvolutionKernels.oneDNNImplementation(.backwardData, input: [32, 3, 32, 32], weight: [16, 3, 3, 3], geometry: pad1) == nil)
    #expect(ConvolutionKernels.oneDNNImplementation(.forward, input: [4, 40, 28, 28], weight: [240, 40, 1, 1], geometry: pointwise) == nil)
    #expect(ConvolutionKernels.oneDNNImplementation(.backwardWeights, input: [32, 32, 14, 14], weight: [64, 32, 3, 3], geometry: pad1) == nil)
    #expect(ConvolutionKernels.oneDNNImplementation(.forward, input: [32, 32, 14, 14], weight: [64, 32, 3, 3], geometry: pad1) != nil)
    Self.withOwnKernels(true) {
      #expect(ConvolutionKernels.oneDNNImplementation(.forward, input: [32, 32, 14, 14], weight: [64, 32, 3, 3], geometry: pad1) == nil)
    }
  }

  @Test func oneDNNResultsHaveTheSameBitsOnOneAndTwoThreads() {
    let saved = EngineThreads.count
    defer { EngineThreads.set(saved) }
    let c = Case(input: [16, 32, 14, 14], weight: [64, 32, 3, 3], groups: 1, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1)))
    let d = Case(input: [16, 96, 28, 28], weight: [96, 1, 3, 3], groups: 96, geometry: ConvGeometry(kernel: (3, 3), padding: (1, 1)))
    for k in [c, d] {
      EngineThreads.set(1)
      let one = Self.withOwnKernels(false) { Self.passes(k) }
      EngineThreads.set(2)
      let two = Self.withOwnKernels(false) { Self.passes(k) }
      #expect(one.0.scalars.map(\.bitPattern) == two.0.scalars.map(\.bitPattern), "\(k) forward")
      #expect(one.1.scalars.map(\.bitPattern) == two.1.scalars.map(\.bitPattern), "\(k) input gradient")
    }
  }
}
