/// Implementation note: every container that calls its children one after another (``Sequential``,
/// a ``Residual`` body, a ``DenseLayer`` branch) goes through ``callChain(_:_:)``. It folds a
/// frozen BatchNorm into the convolution before it: `bn(conv(x))` with BatchNorm in evaluation mode
/// is `conv(x; W * scale) + (b * scale + shift)`, one convolution with a bias instead of a
/// convolution followed by a scale and a shift. The fold is rebuilt from the parameters on every
/// call (a few thousand multiplications against the convolution's millions), so gradients reach the
/// convolution's weight and the BatchNorm's `weight` and `bias` to any order, and fine-tuning with
/// BatchNorm frozen (Heo et al.) keeps one activation tensor per pair instead of three. The result
/// equals the unfolded one up to float rounding. A pair is left unfolded when the active
/// ``ActivationTap`` records or replaces either layer (the explanation asked for the tensor
/// between them), and in training mode, where BatchNorm normalises by batch statistics.

/// Calls `entries` in order on `x`, each through ``ActivationTap/call(_:named:_:)``, with every
/// ``Conv2D`` directly followed by an evaluation-mode ``BatchNorm`` of its channel count run as
/// one folded convolution (unless the active tap refers to either).
func callChain(_ entries: [(name: String, layer: any Layer)], _ x: Tensor) -> Tensor {
  var y = x
  var i = 0
  while i < entries.count {
    let e = entries[i]
    if i + 1 < entries.count, let conv = e.layer as? Conv2D, let bn = entries[i + 1].layer as? BatchNorm,
      !bn.isTraining, bn.channels == conv.outputChannels,
      ActivationTap.current.map({ !$0.refers(toChild: e.name) && !$0.refers(toChild: entries[i + 1].name) }) ?? true
    {
      y = conv.folding(bn, y)
      i += 2
    } else {
      y = ActivationTap.call(e.layer, named: e.name, y)
      i += 1
    }
  }
  return y
}

extension Conv2D {
  /// `bn(self(x))` for an evaluation-mode `bn`, as one convolution with the BatchNorm folded into
  /// the weight and bias (see ``BatchNorm/fold(weight:bias:scale:shift:)``).
  func folding(_ bn: BatchNorm, _ x: Tensor) -> Tensor {
    precondition(
      x.rank == 4 && x.shape[1] == inputChannels,
      "shape error: Conv2D(\(inputChannels) -> \(outputChannels)): input must be [N, \(inputChannels), H, W], got \(x.shape)")
    let (scale, shift) = bn.evaluationAffine()
    let (w, b) = BatchNorm.fold(weight: weight.value, bias: bias?.value, scale: scale, shift: shift)
    let y = Tensor.conv2d(x, w, geometry: geometry(inputHeight: x.shape[2], inputWidth: x.shape[3]), groups: groups)
    return y + b.reshaped([1, outputChannels, 1, 1])
  }
}
