/// How a convolution or pooling layer pads its input.
public enum PaddingMode: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
  /// The same zero padding on both sides of each axis (PyTorch's `padding=(h, w)`).
  case symmetric(height: Int, width: Int)
  /// TensorFlow "SAME": output size `ceil(input / stride)`, padding computed from the input size
  /// at call time; an odd total puts the extra row/column at the bottom/right.
  case same

  /// No padding.
  public static let valid = PaddingMode.symmetric(height: 0, width: 0)

  /// `padding: 1` means one row/column on every side.
  public init(integerLiteral value: Int) { self = .symmetric(height: value, width: value) }

  /// The window geometry for an `h` x `w` input.
  public func geometry(
    kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int) = (1, 1), inputHeight h: Int, inputWidth w: Int
  ) -> ConvGeometry {
    switch self {
    case .symmetric(let ph, let pw):
      return ConvGeometry(kernel: kernel, stride: stride, padding: (ph, pw), dilation: dilation)
    case .same:
      let (t, b) = ConvGeometry.samePadding(input: h, kernel: kernel.0, stride: stride.0, dilation: dilation.0)
      let (l, r) = ConvGeometry.samePadding(input: w, kernel: kernel.1, stride: stride.1, dilation: dilation.1)
      return ConvGeometry(kernel: kernel, stride: stride, padding: (top: t, bottom: b, left: l, right: r), dilation: dilation)
    }
  }

  public var description: String {
    switch self {
    case .symmetric(let h, let w): h == w ? "\(h)" : "(\(h), \(w))"
    case .same: "same-tf"
    }
  }
}

/// 2-D convolution (cross-correlation) over NCHW input, optionally grouped (depthwise when
/// `groups == inputChannels`).
///
/// `y[n, o] = b[o] + sum_{c in group(o)} w[o, c] ⋆ x[n, c]`. Layout (PyTorch's): `weight`
/// `[outputChannels, inputChannels / groups, kernelSize, kernelSize]` (OIHW), `bias`
/// `[outputChannels]`.
public final class Conv2D: Layer {
  /// Input channels C.
  public let inputChannels: Int
  /// Output channels O.
  public let outputChannels: Int
  /// Square kernel size k.
  public let kernelSize: Int
  /// Stride (both axes).
  public let stride: Int
  /// Dilation (both axes).
  public let dilation: Int
  /// Channel groups (1: dense; C: depthwise).
  public let groups: Int
  /// Padding mode; `.same` is TensorFlow's (asymmetric at stride 2), a per-layer property so that
  /// imported TF models keep their geometry.
  public var padding: PaddingMode
  /// `[O, C / groups, k, k]`.
  public let weight: Parameter
  /// `[O]`, or `nil` without bias.
  public let bias: Parameter?

  /// A convolution with seeded initialisation (PyTorch's default unless `initialization` says
  /// otherwise).
  public init(
    inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
    padding: PaddingMode = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true, seed: UInt64 = 0,
    initialization: WeightInitialization = .pytorchDefault
  ) {
    precondition(
      inputChannels > 0 && outputChannels > 0 && kernelSize > 0 && stride > 0 && dilation > 0 && groups > 0
        && inputChannels % groups == 0 && outputChannels % groups == 0,
      "Conv2D: invalid configuration \(inputChannels) -> \(outputChannels), kernel \(kernelSize), stride \(stride), groups \(groups)")
    self.inputChannels = inputChannels
    self.outputChannels = outputChannels
    self.kernelSize = kernelSize
    self.stride = stride
    self.dilation = dilation
    self.groups = groups
    self.padding = padding
    var g = SeededGenerator(seed: seed)
    let fanIn = inputChannels / groups * kernelSize * kernelSize
    let fanOut = outputChannels / groups * kernelSize * kernelSize
    weight = Parameter(
      initialization.weight(
        [outputChannels, inputChannels / groups, kernelSize, kernelSize], fanIn: fanIn, fanOut: fanOut, using: &g))
    self.bias = bias ? Parameter(initialization.bias(outputChannels, fanIn: fanIn, using: &g)) : nil
  }

  private init(copying o: Conv2D) {
    inputChannels = o.inputChannels
    outputChannels = o.outputChannels
    kernelSize = o.kernelSize
    stride = o.stride
    dilation = o.dilation
    groups = o.groups
    padding = o.padding
    weight = o.weight.copy()
    bias = o.bias?.copy()
  }

  /// The geometry used for an `h` x `w` input (padding resolved), e.g. for LRP rules.
  public func geometry(inputHeight h: Int, inputWidth w: Int) -> ConvGeometry {
    padding.geometry(
      kernel: (kernelSize, kernelSize), stride: (stride, stride), dilation: (dilation, dilation),
      inputHeight: h, inputWidth: w)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    let y = convolution(x)
    return bias.map { Tensor.channelAffine(y, scale: nil, shift: $0.value, relu: false) } ?? y
  }

  /// The convolution of `x` with `weight` (the layer's own by default), without the bias.
  func convolution(_ x: Tensor, weight w: Tensor? = nil) -> Tensor {
    precondition(
      x.rank == 4 && x.shape[1] == inputChannels,
      "shape error: Conv2D(\(inputChannels) -> \(outputChannels)): input must be [N, \(inputChannels), H, W], got \(x.shape)")
    return Tensor.conv2d(x, w ?? weight.value, geometry: geometry(inputHeight: x.shape[2], inputWidth: x.shape[3]), groups: groups)
  }

  public var localParameters: [(name: String, parameter: Parameter)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }

  public func deepCopy() -> Conv2D { Conv2D(copying: self) }
}
