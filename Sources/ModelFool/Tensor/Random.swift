import Foundation

/// A seeded, fast pseudo-random generator (SplitMix64), so every run can be reproduced.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform Float in [0, 1).
  public mutating func nextUniform() -> Float { Float(next() >> 40) / Float(1 << 24) }

  /// A standard normal Float (Box-Muller).
  public mutating func nextNormal() -> Float {
    let u1 = Swift.max(nextUniform(), 1e-7), u2 = nextUniform()
    return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * u2)
  }
}

extension Tensor {
  /// Normal samples with the given mean and standard deviation.
  public static func randomNormal(
    _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, using g: inout SeededGenerator
  ) -> Tensor {
    var v = [Float](repeating: 0, count: elementCount(shape))
    for i in v.indices { v[i] = mean + standardDeviation * g.nextNormal() }
    return Tensor(shape: shape, scalars: v)
  }

  /// Uniform samples in `[low, high)`.
  public static func randomUniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, using g: inout SeededGenerator
  ) -> Tensor {
    var v = [Float](repeating: 0, count: elementCount(shape))
    for i in v.indices { v[i] = low + (high - low) * g.nextUniform() }
    return Tensor(shape: shape, scalars: v)
  }
}
