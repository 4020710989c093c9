/// A weighted layer as the LRP rules see it: its linear map `f`, the transpose `T`, weight, bias
/// and the recorded input, built from the layer's parameters (so every rule stays differentiable
/// with respect to them).
struct LRPLinearMap {
  /// The layer's input (`[N, in]` for dense layers, `[N, C, H, W]` for convolutions).
  var x: Tensor
  /// `[out, in]` or `[out, in / groups, k, k]`.
  var weight: Tensor
  /// Bias broadcastable to the output, or nil.
  var bias: Tensor?
  /// `f(x, W)`: the linear map without bias.
  var f: (Tensor, Tensor) -> Tensor
  /// `T(s, W)`: the transpose of `f` (its input-gradient for output cotangent `s`).
  var t: (Tensor, Tensor) -> Tensor
  /// Which kind of layer the composite sees.
  var kind: LRPLayerKind
  /// Reshape of the input relevance back to the layer's input shape.
  var inputShape: [Int]

  /// `W' = W * scale` per output unit, `b' = b * scale + shift` (an evaluation-mode affine map
  /// `y * scale + shift` applied to the layer's output, folded in).
  static func folded(_ w: Tensor, _ b: Tensor?, _ affine: (scale: Tensor, shift: Tensor)?) -> (Tensor, Tensor?) {
    guard let affine else { return (w, b) }
    return BatchNorm.fold(weight: w, bias: b, scale: affine.scale, shift: affine.shift)
  }

  /// A ``Dense`` layer at input `x0` (flattened to `[-1, in]`), optionally with an affine map folded in.
  init(_ d: Dense, input x0: Tensor, folding affine: (scale: Tensor, shift: Tensor)? = nil) {
    let (w, b) = Self.folded(d.weight.value, d.bias?.value, affine)
    self.init(denseInput: x0, weight: w, bias: b)
  }

  /// A dense map `x W^T + b` at input `x0` (flattened to `[-1, in]`), weight `[out, in]`.
  init(denseInput x0: Tensor, weight w: Tensor, bias b: Tensor?) {
    x = x0.rank == 2 ? x0 : x0.reshaped([-1, w.shape[1]])
    weight = w
    bias = b
    f = { Tensor.matmul($0, $1, transposeB: true) }
    t = { Tensor.matmul($0, $1) }
    kind = .dense
    inputShape = x0.shape
  }

  /// A ``Conv2D`` layer (grouped and depthwise included) at input `x`, optionally with an affine
  /// map folded in.
  init(_ c: Conv2D, input x: Tensor, folding affine: (scale: Tensor, shift: Tensor)? = nil) {
    let (w, b) = Self.folded(c.weight.value, c.bias?.value, affine)
    self.init(convolutionInput: x, weight: w, bias: b, geometry: c.geometry(inputHeight: x.shape[2], inputWidth: x.shape[3]), groups: c.groups)
  }

  /// A convolution with weight `[out, in / groups, kh, kw]` and bias `[out]` at input `x`.
  init(convolutionInput x: Tensor, weight w: Tensor, bias b: Tensor?, geometry g: ConvGeometry, groups: Int) {
    let shape = x.shape
    self.x = x
    weight = w
    bias = b?.reshaped([1, w.shape[0], 1, 1])
    f = { Tensor.conv2d($0, $1, geometry: g, groups: groups) }
    t = { Tensor.convInputGradient($0, $1, inputShape: shape, geometry: g, groups: groups) }
    kind = .convolution
    inputShape = shape
  }

  /// Whether the relevance arrives in the output's own layout (convolutions) rather than as rows.
  var isConv: Bool { kind == .convolution }
}
