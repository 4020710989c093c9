/// Batch normalisation (Ioffe and Szegedy 2015) over the channel axis 1 of `[N, C]`, `[N, C, L]` or
/// `[N, C, H, W]` input.
///
/// Training mode: `y = (x - mean_B) / sqrt(var_B + eps) * weight + bias` with the batch mean and the
/// biased batch variance over every axis but 1; the running statistics are updated PyTorch-style,
/// `running = (1 - momentum) running + momentum batch` (unbiased variance), outside the graph.
/// Evaluation mode (the default after construction is *training*, as in PyTorch; call
/// `setTraining(false)`): `y = x * scale + shift` with `scale = weight / sqrt(running_var + eps)`
/// and `shift = bias - running_mean * scale`, so the running statistics stay frozen, as the
/// fine-tuning attack of Heo et al. (2019) requires.
///
/// Parameters (PyTorch `state_dict` names): `weight`, `bias` (trainable, `[C]`); buffers
/// `running_mean`, `running_var` (`[C]`) and `num_batches_tracked` (a scalar `[]`, stored as a
/// Float, incremented per training batch; kept so that state dicts map one-to-one).
public final class BatchNorm: Layer, ModeDependentLayer {
  /// Channels C.
  public let channels: Int
  /// `eps` added to the variance (1e-5 in PyTorch, 1e-3 in TensorFlow/EfficientNet).
  public let epsilon: Float
  /// Weight of the new batch statistic in the running average (PyTorch convention; TensorFlow's
  /// `momentum = 0.99` is `0.01` here).
  public let momentum: Float
  /// Scale γ, `[C]`.
  public let weight: Parameter
  /// Shift β, `[C]`.
  public let bias: Parameter
  /// Running mean, `[C]` (buffer).
  public let runningMean: Parameter
  /// Running (unbiased) variance, `[C]` (buffer).
  public let runningVariance: Parameter
  /// Number of training batches seen, a scalar (buffer).
  public let batchesTracked: Parameter
  /// Batch statistics and running-average updates when true; frozen running statistics when false.
  public var isTraining = true

  /// A batch norm with γ = 1, β = 0, running mean 0 and running variance 1.
  public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
    precondition(channels > 0, "BatchNorm: channels must be positive")
    self.channels = channels
    self.epsilon = epsilon
    self.momentum = momentum
    weight = Parameter(Tensor.ones([channels]))
    bias = Parameter(Tensor.zeros([channels]))
    runningMean = Parameter(Tensor.zeros([channels]), isTrainable: false)
    runningVariance = Parameter(Tensor.ones([channels]), isTrainable: false)
    batchesTracked = Parameter(Tensor(0), isTrainable: false)
  }

  private init(copying o: BatchNorm) {
    channels = o.channels
    epsilon = o.epsilon
    momentum = o.momentum
    weight = o.weight.copy()
    bias = o.bias.copy()
    runningMean = o.runningMean.copy()
    runningVariance = o.runningVariance.copy()
    batchesTracked = o.batchesTracked.copy()
    isTraining = o.isTraining
  }

  /// The evaluation-mode affine map `y = x * scale + shift` (each `[C]`), differentiable with
  /// respect to `weight` and `bias`; LRP canonisers fold it into the preceding convolution.
  public func evaluationAffine() -> (scale: Tensor, shift: Tensor) {
    let scale = weight.value / (runningVariance.value + epsilon).sqrt()
    return (scale, bias.value - runningMean.value * scale)
  }

  /// A weighted layer's `weight` (`[out, ...]`) and `bias` (`[out]`, or none) with an affine map
  /// `y * scale + shift` of its output folded in: `W * scale` per output unit and
  /// `b * scale + shift`. Differentiable with respect to all four; the weight's product is one
  /// ``Tensor/channelAffine(_:scale:shift:relu:)`` over the weight's rows, forward and backward.
  public static func fold(weight w: Tensor, bias b: Tensor?, scale: Tensor, shift: Tensor) -> (weight: Tensor, bias: Tensor) {
    let out = w.shape[0]
    let rows = w.reshaped([1, out, w.count / out])
    let scaled = Tensor.channelAffine(rows, scale: scale, shift: Tensor.zeros([out]), relu: false).reshaped(w.shape)
    return (scaled, (b.map { $0 * scale } ?? Tensor.zeros([out])) + shift)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 2 && x.shape[1] == channels,
      "shape error: BatchNorm(\(channels)): input must be [N, \(channels), ...], got \(x.shape)")
    let broadcast = [1, channels] + [Int](repeating: 1, count: x.rank - 2)
    if !isTraining {
      let (scale, shift) = evaluationAffine()
      return Tensor.channelAffine(x, scale: scale, shift: shift, relu: false)
    }
    let axes = [0] + Array(2..<x.rank)
    let n = x.count / channels
    precondition(n > 1, "BatchNorm(\(channels)): training mode needs more than one value per channel, got input \(x.shape)")
    let mean = x.mean(alongAxes: axes, keepingDimensions: true)
    let centered = x - mean
    let variance = (centered * centered).mean(alongAxes: axes, keepingDimensions: true)
    let y = centered / (variance + epsilon).sqrt() * weight.value.reshaped(broadcast)
      + bias.value.reshaped(broadcast)
    withoutRecording {
      let m = momentum
      let batchMean = mean.detached().reshaped([channels])
      let batchVar = variance.detached().reshaped([channels]) * (Float(n) / Float(n - 1))
      runningMean.value = runningMean.value * (1 - m) + batchMean * m
      runningVariance.value = runningVariance.value * (1 - m) + batchVar * m
      batchesTracked.value = batchesTracked.value + 1
    }
    return y
  }

  public var localParameters: [(name: String, parameter: Parameter)] {
    [
      ("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVariance),
      ("num_batches_tracked", batchesTracked),
    ]
  }

  public func deepCopy() -> BatchNorm { BatchNorm(copying: self) }
}

/// Batch normalisation of `[N, C, H, W]` feature maps (PyTorch's `BatchNorm2d`); see ``BatchNorm``.
public typealias BatchNorm2D = BatchNorm
/// Batch normalisation of `[N, C]` (or `[N, C, L]`) features (PyTorch's `BatchNorm1d`); see
/// ``BatchNorm``.
public typealias BatchNorm1D = BatchNorm
