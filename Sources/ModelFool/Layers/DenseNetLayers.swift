/// One DenseNet-BC layer (Huang et al. 2017): `y = concat(x, f(x))` along channels, with
/// `f = conv2(relu2(norm2(conv1(relu1(norm1(x))))))`, `conv1` a 1x1 bottleneck to
/// `bottleneckFactor * growthRate` channels and `conv2` a 3x3 (padding 1) to `growthRate`.
///
/// Children and parameter names follow torchvision's `_DenseLayer` (`norm1`, `relu1`, `conv1`,
/// `norm2`, `relu2`, `conv2`; convs without bias). torchvision concatenates all previous
/// features in `_DenseBlock`; concatenating inside each layer is the same function and lets LRP
/// split relevance by channel slice: the first `inputChannels` channels belong to `x`.
public final class DenseLayer: Layer {
  /// Channels of `x`.
  public let inputChannels: Int
  /// Channels added, k.
  public let growthRate: Int
  /// The branch `f` as named layers, in call order.
  public let branch: [(name: String, layer: any Layer)]

  /// A dense layer adding `growthRate` channels to `inputChannels`.
  public init(inputChannels: Int, growthRate: Int, bottleneckFactor: Int = 4, seed: UInt64 = 0,
              initialization: WeightInitialization = .kaimingNormalFanOut) {
    var seeds = SeedSequence(seed)
    let mid = bottleneckFactor * growthRate
    self.inputChannels = inputChannels
    self.growthRate = growthRate
    branch = [
      ("norm1", BatchNorm(channels: inputChannels)),
      ("relu1", ActivationLayer(.relu)),
      ("conv1", Conv2D(inputChannels: inputChannels, outputChannels: mid, kernelSize: 1, bias: false, seed: seeds.next(), initialization: initialization)),
      ("norm2", BatchNorm(channels: mid)),
      ("relu2", ActivationLayer(.relu)),
      ("conv2", Conv2D(inputChannels: mid, outputChannels: growthRate, kernelSize: 3, padding: 1, bias: false, seed: seeds.next(), initialization: initialization)),
    ]
  }

  private init(copying o: DenseLayer) {
    inputChannels = o.inputChannels
    growthRate = o.growthRate
    branch = o.branch.map { ($0.name, $0.layer.deepCopy()) }
  }

  /// The new features `f(x)` alone, `[N, growthRate, H, W]`.
  public func newFeatures(_ x: Tensor) -> Tensor { callChain(branch, x) }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    Tensor.concatenate([x, newFeatures(x)], alongAxis: 1)
  }

  public var children: [(name: String, layer: any Layer)] { branch }

  public func deepCopy() -> DenseLayer { DenseLayer(copying: self) }
}

/// Builders for DenseNet's blocks as ``Sequential`` containers with torchvision's names.
public enum DenseNetBlocks {
  /// A dense block of `layers` ``DenseLayer``s named `denselayer1`, `denselayer2`, ...; output
  /// channels `inputChannels + layers * growthRate`.
  public static func denseBlock(
    layers: Int, inputChannels: Int, growthRate: Int, bottleneckFactor: Int = 4, seed: UInt64 = 0
  ) -> Sequential {
    var seeds = SeedSequence(seed)
    return Sequential(
      named: (0..<layers).map { i in
        ("denselayer\(i + 1)",
         DenseLayer(inputChannels: inputChannels + i * growthRate, growthRate: growthRate,
                    bottleneckFactor: bottleneckFactor, seed: seeds.next()) as any Layer)
      })
  }

  /// A transition: `norm`, `relu`, 1x1 `conv` (no bias) to `outputChannels`, 2x2 average `pool`.
  public static func transition(inputChannels: Int, outputChannels: Int, seed: UInt64 = 0) -> Sequential {
    Sequential(named: [
      ("norm", BatchNorm(channels: inputChannels)),
      ("relu", ActivationLayer(.relu)),
      ("conv", Conv2D(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 1, bias: false, seed: seed, initialization: .kaimingNormalFanOut)),
      ("pool", AvgPool2D(kernelSize: 2, stride: 2)),
    ])
  }
}
