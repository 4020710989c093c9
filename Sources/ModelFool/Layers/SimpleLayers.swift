/// Flattens every axis but the batch axis: `[N, ...] -> [N, prod(...)]` (row-major, so the
/// order matches PyTorch's `flatten(1)` on NCHW tensors).
public final class Flatten: Layer {
  /// A flatten layer.
  public init() {}
  public func callAsFunction(_ x: Tensor) -> Tensor { x.flattenedBatch() }
  public func deepCopy() -> Flatten { Flatten() }
}

/// An activation function as a layer. ``activation`` can be switched at any time (see
/// ``Layer/setActivation(_:includingReLU6:)``); ``base`` remembers the one it was built with.
public final class ActivationLayer: Layer {
  /// The activation the layer was built with (decides what ``Layer/setActivation(_:includingReLU6:)``
  /// switches).
  public let base: Activation
  /// The activation currently applied.
  public var activation: Activation

  /// A layer applying `activation`.
  public init(_ activation: Activation) {
    base = activation
    self.activation = activation
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { activation(x) }

  public func deepCopy() -> ActivationLayer {
    let c = ActivationLayer(base)
    c.activation = activation
    return c
  }
}

/// Inverted dropout (Srivastava et al. 2014): in training mode each value is zeroed with
/// probability `rate` and the survivors are scaled by `1 / (1 - rate)`; the identity in
/// evaluation mode. The mask comes from the layer's own seeded generator, which advances on every
/// training call (reproducible from `seed`).
public final class Dropout: Layer, ModeDependentLayer {
  /// Drop probability in [0, 1).
  public let rate: Float
  /// Random masks when true; identity when false.
  public var isTraining = true
  private var generator: SeededGenerator

  /// Dropout with drop probability `rate`.
  public init(rate: Float, seed: UInt64 = 0) {
    precondition(rate >= 0 && rate < 1, "Dropout: rate must be in [0, 1), got \(rate)")
    self.rate = rate
    generator = SeededGenerator(seed: seed)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    guard isTraining && rate > 0 else { return x }
    let keep = 1 - rate
    var mask = [Float](repeating: 0, count: x.count)
    for i in mask.indices where generator.nextUniform() < keep { mask[i] = 1 / keep }
    return x * Tensor(shape: x.shape, scalars: mask)
  }

  public func deepCopy() -> Dropout {
    let c = Dropout(rate: rate)
    c.generator = generator
    c.isTraining = isTraining
    return c
  }
}

/// Per-channel input normalisation `y = (x - mean[c]) / std[c]` on NCHW input, so that a model
/// takes images in [0, 1] and attack budgets such as 8/255 mean what they say. No parameters
/// (constants, not saved in checkpoints).
public final class Normalize: Layer {
  /// Channel means.
  public let mean: [Float]
  /// Channel standard deviations.
  public let standardDeviation: [Float]

  /// Normalisation with the given per-channel mean and standard deviation.
  public init(mean: [Float], standardDeviation: [Float]) {
    precondition(mean.count == standardDeviation.count && !mean.isEmpty, "Normalize: mean and std must have the same, non-zero length")
    self.mean = mean
    self.standardDeviation = standardDeviation
  }

  /// torchvision's ImageNet normalisation (RGB in [0, 1]).
  public static var imageNet: Normalize {
    Normalize(mean: [0.485, 0.456, 0.406], standardDeviation: [0.229, 0.224, 0.225])
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let c = mean.count
    precondition(x.rank == 4 && x.shape[1] == c, "shape error: Normalize: input must be [N, \(c), H, W], got \(x.shape)")
    let m = Tensor(shape: [1, c, 1, 1], scalars: mean)
    let inv = Tensor(shape: [1, c, 1, 1], scalars: standardDeviation.map { 1 / $0 })
    return (x - m) * inv
  }

  public func deepCopy() -> Normalize { Normalize(mean: mean, standardDeviation: standardDeviation) }
}
