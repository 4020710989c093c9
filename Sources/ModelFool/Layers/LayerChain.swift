/// Implementation note: every container that calls its children one after another (``Sequential``,
/// a ``Residual`` body, a ``DenseLayer`` branch) goes through ``callChain(_:_:)``. It folds a
/// frozen BatchNorm into the convolution before it where the convolution's output outnumbers its
/// weight (``Conv2D/foldingRatio``): `bn(conv(x))` with BatchNorm in evaluation mode is
/// `conv(x; W * scale) + (b * scale + shift)`, one convolution with a bias instead of a
/// convolution followed by a scale and a shift; elsewhere the scale and shift follow the
/// convolution in one pass. The fold is rebuilt from the parameters on every call, so gradients
/// reach the convolution's weight and the BatchNorm's `weight` and `bias` to any order, and
/// fine-tuning with BatchNorm frozen (Heo et al.) keeps one activation tensor per pair instead of
/// three. The result equals the unfolded one up to float rounding. A ReLU that follows joins the shift's pass, as it
/// does after a convolution's own bias and after a frozen BatchNorm alone (DenseNet's
/// BatchNorm-ReLU-convolution order), so those pairs and triples write one tensor instead of two
/// or three. A run is left apart when the active
/// ``ActivationTap`` records or replaces one of its layers (the explanation asked for the tensor
/// between them), and in training mode, where BatchNorm normalises by batch statistics.

/// Calls `entries` in order on `x`, each through ``ActivationTap/call(_:named:_:)``, except the runs
/// that one primitive does (unless the active tap refers to one of their layers): a ``Conv2D``
/// directly followed by an evaluation-mode ``BatchNorm`` of its channel count runs as one folded
/// convolution, and a ReLU after either, or after a convolution with a bias, joins the shift in
/// one pass (``Tensor/channelAffine(_:scale:shift:relu:)``).
func callChain(_ entries: [(name: String, layer: any Layer)], _ x: Tensor) -> Tensor {
  var y = x
  var i = 0
  /// Whether entries `i..<i+n` exist and the active tap (if any) refers to none of them.
  func free(_ n: Int) -> Bool {
    i + n <= entries.count
      && (ActivationTap.current.map { tap in !entries[i..<(i + n)].contains { tap.refers(toChild: $0.name) } } ?? true)
  }
  func isReLU(_ k: Int) -> Bool { k < entries.count && isPlainReLU(entries[k].layer) }
  while i < entries.count {
    let e = entries[i]
    if let conv = e.layer as? Conv2D, i + 1 < entries.count, let bn = entries[i + 1].layer as? BatchNorm,
      !bn.isTraining, bn.channels == conv.outputChannels
    {
      let relu = isReLU(i + 2) && free(3)
      if relu || free(2) {
        y = conv.folding(bn, y, relu: relu)
        i += relu ? 3 : 2
        continue
      }
    }
    if let conv = e.layer as? Conv2D, let bias = conv.bias, isReLU(i + 1), free(2) {
      y = Tensor.channelAffine(conv.convolution(y), scale: nil, shift: bias.value, relu: true)
      i += 2
      continue
    }
    if let bn = e.layer as? BatchNorm, !bn.isTraining, isReLU(i + 1), free(2) {
      let (scale, shift) = bn.evaluationAffine()
      y = Tensor.channelAffine(y, scale: scale, shift: shift, relu: true)
      i += 2
      continue
    }
    y = ActivationTap.call(e.layer, named: e.name, y)
    i += 1
  }
  return y
}

/// Whether `layer` applies a ReLU now (an ``ActivationLayer`` switched to softplus does not), so
/// that a fused pass may stand in for it.
func isPlainReLU(_ layer: any Layer) -> Bool { (layer as? ActivationLayer)?.activation == .relu }

extension Conv2D {
  /// `bn(self(x))` for an evaluation-mode `bn`, then a ReLU when `relu`: one convolution with the
  /// BatchNorm folded into the weight and bias (see ``BatchNorm/fold(weight:bias:scale:shift:)``)
  /// where the output has at least ``foldingRatio`` times as many values as the weight, else the
  /// convolution and then the BatchNorm's scale and shift in one pass. The fold reads and writes
  /// the weight about five times in a training step (its product and that product's two
  /// gradients), the unfolded scale about one more pass over the output; so the deep layers of a
  /// small batch (ResNet-50's 3x3 256 -> 256 at 14x14, batch 2: 590k weights, 100k outputs) run
  /// unfolded, the early ones folded. Only float rounding tells the two apart.
  func folding(_ bn: BatchNorm, _ x: Tensor, relu: Bool) -> Tensor {
    let (scale, shift) = bn.evaluationAffine()
    let g = geometry(inputHeight: x.shape[2], inputWidth: x.shape[3])
    let outputs = g.outputSize(h: x.shape[2], w: x.shape[3]).map { x.shape[0] * outputChannels * $0.0 * $0.1 } ?? 0
    if outputs >= Self.foldingRatio * weight.value.count {
      let (w, b) = BatchNorm.fold(weight: weight.value, bias: bias?.value, scale: scale, shift: shift)
      return Tensor.channelAffine(convolution(x, weight: w), scale: nil, shift: b, relu: relu)
    }
    let b = bias.map { $0.value * scale + shift } ?? shift
    return Tensor.channelAffine(convolution(x), scale: scale, shift: b, relu: relu)
  }

  /// Outputs per weight from which a BatchNorm is folded into the convolution before it.
  static let foldingRatio = 5
}
