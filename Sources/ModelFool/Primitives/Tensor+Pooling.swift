/// Pooling over NCHW tensors. Max-pooling gathers the winners (ties: first maximum in row-major
/// window order, PyTorch's convention); average pooling is a reshape-mean or a depthwise
/// convolution; both inherit their derivatives from those primitives.
extension Tensor {
  /// Flat indices of each window's maximum (padding never wins).
  public func maxPoolIndices(geometry g: ConvGeometry) -> (indices: [Int32], shape: [Int]) {
    shapeCheck(rank == 4, "maxPool2d: input must be NCHW, got \(shape)")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    guard let (oh, ow) = g.outputSize(h: h, w: w) else {
      fatalError("shape error: maxPool2d: window (\(g)) does not fit input \(shape)")
    }
    shapeCheck(count <= Int(Int32.max), "maxPool2d: input \(shape) is too large for Int32 indices")
    var idx = [Int32](repeating: 0, count: n * c * oh * ow)
    let p = storage.pointer
    // Positions are below the input's element count (checked above to fit Int32), so the index
    // arithmetic wraps instead of checking for overflow at every tap.
    idx.withUnsafeMutableBufferPointer { buffer in
      guard let out = buffer.baseAddress else { return }
      // Planes are independent; plane `p` writes indices `p * oh * ow ..< (p + 1) * oh * ow`.
      parallelChunks(n * c, work: n * c * oh * ow * g.kh * g.kw) { planes in
        var k = planes.lowerBound &* oh &* ow
        for plane in planes {
          let base = plane &* h &* w
          for y in 0..<oh {
            let top = y &* g.strideH &- g.padTop
            for x in 0..<ow {
              let left = x &* g.strideW &- g.padLeft
              var best = -1
              var bestValue = -Float.infinity
              for i in 0..<g.kh {
                let yy = top &+ i &* g.dilationH
                if yy < 0 || yy >= h { continue }
                let row = base &+ yy &* w
                for j in 0..<g.kw {
                  let xx = left &+ j &* g.dilationW
                  if xx < 0 || xx >= w { continue }
                  let v = p[row &+ xx]
                  if best < 0 || v > bestValue {
                    best = row &+ xx
                    bestValue = v
                  }
                }
              }
              out[k] = Int32(truncatingIfNeeded: best)
              k &+= 1
            }
          }
        }
      }
    }
    return (idx, [n, c, oh, ow])
  }

  /// 2-D max pooling.
  public func maxPool2d(geometry: ConvGeometry) -> Tensor {
    let (idx, outShape) = maxPoolIndices(geometry: geometry)
    return gathered(flatIndices: idx, shape: outShape)
  }

  /// 2-D max pooling with a square `kernel` and `stride` (defaults to the kernel), no padding.
  public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    maxPool2d(geometry: ConvGeometry(kernel: (kernel, kernel), stride: (stride ?? kernel, stride ?? kernel), padding: (padding, padding)))
  }

  /// 2-D average pooling (zero padding counts in the average, as PyTorch's default).
  public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
    shapeCheck(rank == 4, "avgPool2d: input must be NCHW, got \(shape)")
    let s = stride ?? kernel
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    if s == kernel && padding == 0 && h % kernel == 0 && w % kernel == 0 {
      return reshaped([n, c, h / kernel, kernel, w / kernel, kernel]).mean(alongAxes: [3, 5])
    }
    let weight = Tensor(repeating: 1 / Float(kernel * kernel), shape: [c, 1, kernel, kernel])
    return Tensor.conv2d(
      self, weight,
      geometry: ConvGeometry(kernel: (kernel, kernel), stride: (s, s), padding: (padding, padding)),
      groups: c)
  }

  /// Mean over the spatial axes: `[N, C, H, W] -> [N, C]`.
  public func globalAvgPool2d() -> Tensor {
    shapeCheck(rank == 4, "globalAvgPool2d: input must be NCHW, got \(shape)")
    return mean(alongAxes: [2, 3])
  }

  /// Nearest-neighbour upsampling by integer factors.
  public func upsampleNearest(factor: Int) -> Tensor {
    shapeCheck(rank == 4 && factor >= 1, "upsampleNearest: need NCHW and factor >= 1, got \(shape), \(factor)")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    return reshaped([n, c, h, 1, w, 1]).expand(to: [n, c, h, factor, w, factor])
      .reshaped([n, c, h * factor, w * factor])
  }

  /// Bilinear resize to `height` x `width` (half-pixel centres, PyTorch's `align_corners=False`),
  /// as two matrix products so that it is differentiable to any order.
  public func resizeBilinear(height: Int, width: Int) -> Tensor {
    shapeCheck(rank == 4 && height > 0 && width > 0, "resizeBilinear: need NCHW, got \(shape)")
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    if h == height && w == width { return self }
    let rw = Tensor.interpolationMatrix(from: w, to: width)  // [width, w]
    let rh = Tensor.interpolationMatrix(from: h, to: height)  // [height, h]
    let rows = Tensor.matmul(reshaped([n * c * h, w]), rw, transposeB: true)  // [n*c*h, width]
    let t = rows.reshaped([n * c, h, width]).transposed().reshaped([n * c * width, h])
    let cols = Tensor.matmul(t, rh, transposeB: true)  // [n*c*width, height]
    return cols.reshaped([n * c, width, height]).transposed().reshaped([n, c, height, width])
  }

  /// `[to, from]` linear-interpolation weights with half-pixel centres.
  static func interpolationMatrix(from: Int, to: Int) -> Tensor {
    var m = [Float](repeating: 0, count: to * from)
    let scale = Float(from) / Float(to)
    for i in 0..<to {
      let src = Swift.max((Float(i) + 0.5) * scale - 0.5, 0)
      let i0 = Swift.min(Int(src), from - 1)
      let i1 = Swift.min(i0 + 1, from - 1)
      let t = src - Float(i0)
      m[i * from + i0] += 1 - t
      m[i * from + i1] += t
    }
    return Tensor(shape: [to, from], scalars: m)
  }
}
