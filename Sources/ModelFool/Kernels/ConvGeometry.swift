/// Geometry of a 2-D convolution or pooling window over NCHW tensors.
public struct ConvGeometry: Sendable, Hashable, CustomStringConvertible {
  public var kernel: (h: Int, w: Int) { (kh, kw) }
  public let kh: Int, kw: Int
  public let strideH: Int, strideW: Int
  /// Zero padding: top, bottom, left, right (asymmetric padding is TensorFlow's "SAME").
  public let padTop: Int, padBottom: Int, padLeft: Int, padRight: Int
  public let dilationH: Int, dilationW: Int

  /// - Parameters: kernel size, stride, symmetric padding and dilation, each (height, width).
  public init(
    kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1)
  ) {
    self.init(
      kernel: kernel, stride: stride,
      padding: (top: padding.0, bottom: padding.0, left: padding.1, right: padding.1),
      dilation: dilation)
  }

  /// Geometry with explicit per-side padding.
  public init(
    kernel: (Int, Int), stride: (Int, Int),
    padding: (top: Int, bottom: Int, left: Int, right: Int), dilation: (Int, Int) = (1, 1)
  ) {
    kh = kernel.0
    kw = kernel.1
    strideH = stride.0
    strideW = stride.1
    padTop = padding.top
    padBottom = padding.bottom
    padLeft = padding.left
    padRight = padding.right
    dilationH = dilation.0
    dilationW = dilation.1
    shapeCheck(
      kh > 0 && kw > 0 && strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0
        && [padTop, padBottom, padLeft, padRight].allSatisfy { $0 >= 0 },
      "conv geometry: kernel, stride and dilation must be positive and padding non-negative: \(description)")
  }

  /// TensorFlow "SAME" padding for an input of `size` (extra row/column at the bottom/right).
  public static func samePadding(input: Int, kernel: Int, stride: Int, dilation: Int = 1) -> (Int, Int) {
    let out = (input + stride - 1) / stride
    let effective = (kernel - 1) * dilation + 1
    let total = Swift.max((out - 1) * stride + effective - input, 0)
    return (total / 2, total - total / 2)
  }

  /// Output height and width for an input of `h` x `w`, or `nil` if the window does not fit.
  public func outputSize(h: Int, w: Int) -> (Int, Int)? {
    let oh = (h + padTop + padBottom - dilationH * (kh - 1) - 1) / strideH + 1
    let ow = (w + padLeft + padRight - dilationW * (kw - 1) - 1) / strideW + 1
    let fitsH = h + padTop + padBottom >= dilationH * (kh - 1) + 1
    let fitsW = w + padLeft + padRight >= dilationW * (kw - 1) + 1
    return fitsH && fitsW && oh > 0 && ow > 0 ? (oh, ow) : nil
  }

  /// True when the window is a plain 1x1 with stride 1 and no padding (no im2col needed).
  var isPointwise: Bool {
    kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padBottom == 0
      && padLeft == 0 && padRight == 0
  }

  public var description: String {
    "kernel \(kh)x\(kw), stride \(strideH)x\(strideW), padding t\(padTop) b\(padBottom) l\(padLeft) r\(padRight), dilation \(dilationH)x\(dilationW)"
  }

  public static func == (a: ConvGeometry, b: ConvGeometry) -> Bool {
    a.kh == b.kh && a.kw == b.kw && a.strideH == b.strideH && a.strideW == b.strideW
      && a.padTop == b.padTop && a.padBottom == b.padBottom && a.padLeft == b.padLeft
      && a.padRight == b.padRight && a.dilationH == b.dilationH && a.dilationW == b.dilationW
  }

  public func hash(into h: inout Hasher) {
    for v in [kh, kw, strideH, strideW, padTop, padBottom, padLeft, padRight, dilationH, dilationW] {
      h.combine(v)
    }
  }
}
