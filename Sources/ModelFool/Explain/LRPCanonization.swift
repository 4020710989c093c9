/// Canonisation for LRP: the layer sequences the relevance pass walks are rewritten first by the
/// composite's ``LRPCanonizer``s, so the pass itself knows nothing about them. The forward pass is
/// still the model's own (the rewritten layers compute the same function and keep the name of the
/// layer they replace, so the recorded activations match).

/// A ``Dense`` or ``Conv2D`` layer followed by an evaluation-mode ``BatchNorm``, as one weighted
/// layer with `W' = W * scale` and `b' = b * scale + shift` (built from the parameters on every
/// use, so gradients reach the original weights and the BatchNorm's `weight` and `bias`).
final class BatchNormFolded: Layer {
  /// The weighted layer (``Dense`` or ``Conv2D``).
  let layer: any Layer
  /// The BatchNorm folded into it.
  let batchNorm: BatchNorm

  init(_ layer: any Layer, _ batchNorm: BatchNorm) {
    self.layer = layer
    self.batchNorm = batchNorm
  }

  /// The weighted layer at input `x` with the BatchNorm's affine map folded in.
  func linearMap(input x: Tensor) -> LRPLinearMap {
    let affine = batchNorm.evaluationAffine()
    if let d = layer as? Dense { return LRPLinearMap(d, input: x, folding: affine) }
    return LRPLinearMap(layer as! Conv2D, input: x, folding: affine)
  }

  func callAsFunction(_ x: Tensor) -> Tensor { batchNorm(layer(x)) }

  var children: [(name: String, layer: any Layer)] { [("layer", layer), ("batchNorm", batchNorm)] }

  func deepCopy() -> BatchNormFolded { BatchNormFolded(layer.deepCopy(), batchNorm.deepCopy()) }
}

extension LRPCanonizer {
  /// `entries` (children of the layer named `parent`) rewritten by this canonizer; the layer named
  /// `stopAt` is never folded away.
  func rewrite(_ entries: [(name: String, layer: any Layer)], parent: String, stopAt: String?) -> [(name: String, layer: any Layer)] {
    switch self {
    case .foldBatchNorm:
      var out: [(name: String, layer: any Layer)] = []
      for e in entries {
        if let bn = e.layer as? BatchNorm, joinLayerName(parent, e.name) != stopAt, let prev = out.last,
          Self.outputChannels(prev.layer) == bn.channels
        {
          out[out.count - 1] = (prev.name, BatchNormFolded(prev.layer, bn))
        } else {
          out.append(e)
        }
      }
      return out
    }
  }

  /// Output units of a ``Dense`` or ``Conv2D`` layer, nil for any other layer.
  private static func outputChannels(_ l: any Layer) -> Int? {
    (l as? Dense)?.outputSize ?? (l as? Conv2D)?.outputChannels
  }
}

extension LRPComposite {
  /// `entries` after every canonizer of the composite, in order.
  func canonized(_ entries: [(name: String, layer: any Layer)], parent: String, stopAt: String?) -> [(name: String, layer: any Layer)] {
    canonizers.reduce(entries) { $1.rewrite($0, parent: parent, stopAt: stopAt) }
  }
}
