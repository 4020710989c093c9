import Foundation

/// How a layer's weights are drawn at construction (always from a seeded generator).
public enum WeightInitialization: Sendable, Hashable {
  /// PyTorch's default for `Linear`/`Conv2d`: Kaiming-uniform with `a = sqrt(5)`, i.e. weights
  /// and bias uniform in `±1/sqrt(fanIn)`.
  case pytorchDefault
  /// Kaiming-uniform for ReLU networks (He et al. 2015): weights uniform in `±sqrt(6/fanIn)`,
  /// bias zero. Trains small ReLU CNNs from scratch faster than the PyTorch default.
  case kaimingUniform
  /// Kaiming-normal, fan-out mode (torchvision's ResNet/DenseNet conv init): `N(0, 2/fanOut)`,
  /// bias zero.
  case kaimingNormalFanOut

  /// A weight tensor of `shape` with the given fans.
  public func weight(_ shape: [Int], fanIn: Int, fanOut: Int, using g: inout SeededGenerator) -> Tensor {
    switch self {
    case .pytorchDefault:
      let b = 1 / Foundation.sqrt(Float(Swift.max(fanIn, 1)))
      return Tensor.randomUniform(shape, low: -b, high: b, using: &g)
    case .kaimingUniform:
      let b = Foundation.sqrt(6 / Float(Swift.max(fanIn, 1)))
      return Tensor.randomUniform(shape, low: -b, high: b, using: &g)
    case .kaimingNormalFanOut:
      return Tensor.randomNormal(
        shape, standardDeviation: Foundation.sqrt(2 / Float(Swift.max(fanOut, 1))), using: &g)
    }
  }

  /// A bias vector of `count` entries for a layer with the given fan-in.
  public func bias(_ count: Int, fanIn: Int, using g: inout SeededGenerator) -> Tensor {
    switch self {
    case .pytorchDefault:
      let b = 1 / Foundation.sqrt(Float(Swift.max(fanIn, 1)))
      return Tensor.randomUniform([count], low: -b, high: b, using: &g)
    case .kaimingUniform, .kaimingNormalFanOut:
      return Tensor.zeros([count])
    }
  }
}

/// Derives independent per-layer seeds from one model seed, so that every builder is
/// reproducible from a single `seed` option.
public struct SeedSequence: Sendable {
  private var generator: SeededGenerator
  /// A sequence determined by `seed`.
  public init(_ seed: UInt64) { generator = SeededGenerator(seed: seed ^ 0x5EED_0F_1A7E25) }
  /// The next seed.
  public mutating func next() -> UInt64 { generator.next() }
}
