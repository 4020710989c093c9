/// 2-D max pooling over NCHW input. Ties go to the first maximum in row-major window order and
/// padding never wins (PyTorch's convention; `.same` padding behaves like TensorFlow's).
public final class MaxPool2D: Layer {
  /// Square window size.
  public let kernelSize: Int
  /// Stride (defaults to the window size).
  public let stride: Int
  /// Padding mode.
  public var padding: PaddingMode

  /// Max pooling with a `kernelSize` window.
  public init(kernelSize: Int, stride: Int? = nil, padding: PaddingMode = 0) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
  }

  /// The geometry used for an `h` x `w` input.
  public func geometry(inputHeight h: Int, inputWidth w: Int) -> ConvGeometry {
    padding.geometry(kernel: (kernelSize, kernelSize), stride: (stride, stride), inputHeight: h, inputWidth: w)
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "shape error: MaxPool2D: input must be NCHW, got \(x.shape)")
    return x.maxPool2d(geometry: geometry(inputHeight: x.shape[2], inputWidth: x.shape[3]))
  }

  public func deepCopy() -> MaxPool2D { MaxPool2D(kernelSize: kernelSize, stride: stride, padding: padding) }
}

/// 2-D average pooling over NCHW input; zero padding counts in the average (PyTorch's default).
public final class AvgPool2D: Layer {
  /// Square window size.
  public let kernelSize: Int
  /// Stride (defaults to the window size).
  public let stride: Int
  /// Symmetric zero padding.
  public let padding: Int

  /// Average pooling with a `kernelSize` window.
  public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
    self.kernelSize = kernelSize
    self.stride = stride ?? kernelSize
    self.padding = padding
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    x.avgPool2d(kernel: kernelSize, stride: stride, padding: padding)
  }

  public func deepCopy() -> AvgPool2D { AvgPool2D(kernelSize: kernelSize, stride: stride, padding: padding) }
}

/// Mean over the spatial axes, `[N, C, H, W] -> [N, C]` (PyTorch's `AdaptiveAvgPool2d(1)` followed by
/// `flatten(1)`).
public final class GlobalAvgPool2D: Layer {
  /// A global average pool.
  public init() {}
  public func callAsFunction(_ x: Tensor) -> Tensor { x.globalAvgPool2d() }
  public func deepCopy() -> GlobalAvgPool2D { GlobalAvgPool2D() }
}

/// Adaptive average pooling to a fixed `outputHeight` x `outputWidth` (PyTorch's
/// `AdaptiveAvgPool2d`): output cell `i` averages input rows `floor(i H / h) ..< ceil((i+1) H / h)`.
/// The identity when the input already has that size; otherwise two matrix products.
public final class AdaptiveAvgPool2D: Layer {
  /// Output height.
  public let outputHeight: Int
  /// Output width.
  public let outputWidth: Int

  /// Adaptive average pooling to `outputHeight` x `outputWidth`.
  public init(outputHeight: Int, outputWidth: Int) {
    self.outputHeight = outputHeight
    self.outputWidth = outputWidth
  }

  public func callAsFunction(_ x: Tensor) -> Tensor {
    precondition(x.rank == 4, "shape error: AdaptiveAvgPool2D: input must be NCHW, got \(x.shape)")
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    if h == outputHeight && w == outputWidth { return x }
    let rw = AdaptiveAvgPool2D.binMatrix(from: w, to: outputWidth)  // [ow, w]
    let rh = AdaptiveAvgPool2D.binMatrix(from: h, to: outputHeight)  // [oh, h]
    let rows = Tensor.matmul(x.reshaped([n * c * h, w]), rw, transposeB: true)  // [n c h, ow]
    let t = rows.reshaped([n * c, h, outputWidth]).transposed().reshaped([n * c * outputWidth, h])
    let cols = Tensor.matmul(t, rh, transposeB: true)  // [n c ow, oh]
    return cols.reshaped([n * c, outputWidth, outputHeight]).transposed()
      .reshaped([n, c, outputHeight, outputWidth])
  }

  /// `[to, from]` averaging weights of PyTorch's adaptive bins (also written into exported graphs).
  public static func binMatrix(from: Int, to: Int) -> Tensor {
    var m = [Float](repeating: 0, count: to * from)
    for i in 0..<to {
      let start = (i * from) / to
      let end = ((i + 1) * from + to - 1) / to
      for j in start..<end { m[i * from + j] = 1 / Float(end - start) }
    }
    return Tensor(shape: [to, from], scalars: m)
  }

  public func deepCopy() -> AdaptiveAvgPool2D {
    AdaptiveAvgPool2D(outputHeight: outputHeight, outputWidth: outputWidth)
  }
}
