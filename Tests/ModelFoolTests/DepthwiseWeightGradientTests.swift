import ModelFool
import Testing

/// The depthwise weight gradient (DepthwiseConvolution.swift; ours for every shape) against the
/// definition summed in Float64: `dw[c, i, j] = sum_{n, oy, ox} g[n, c, oy, ox] * x[n, c, pos(oy, i), pos(ox, j)]`.
struct DepthwiseWeightGradientTests {
  /// Widths that are and are not whole blocks of 8 outputs, strides 1 and 2, TF-same (asymmetric)
  /// and symmetric padding, 3x3 and 5x5, and a dilated case (the unpadded path).
  static let geometries: [(input: [Int], kernel: Int, geometry: ConvGeometry)] = [
    ([2, 3, 7, 7], 5, ConvGeometry(kernel: (5, 5), padding: (2, 2))),
    ([2, 3, 14, 14], 5, ConvGeometry(kernel: (5, 5), stride: (2, 2), padding: (top: 1, bottom: 2, left: 1, right: 2))),
    ([3, 2, 19, 16], 3, ConvGeometry(kernel: (3, 3), padding: (1, 1))),
    ([1, 4, 9, 23], 3, ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (top: 0, bottom: 1, left: 0, right: 1))),
    ([2, 2, 8, 9], 3, ConvGeometry(kernel: (3, 3), stride: (1, 2), padding: (0, 0))),
    ([1, 2, 9, 9], 3, ConvGeometry(kernel: (3, 3), padding: (2, 2), dilation: (2, 2))),
  ]

  @Test(arguments: 0..<geometries.count)
  func weightGradientMatchesTheDefinition(_ index: Int) throws {
    let (shape, k, geometry) = Self.geometries[index]
    let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
    let (oh, ow) = try #require(geometry.outputSize(h: h, w: w))
    var g = SeededGenerator(seed: UInt64(index) + 11)
    let x = Tensor.randomNormal(shape, using: &g), dy = Tensor.randomNormal([n, c, oh, ow], using: &g)
    let ours = Tensor.convWeightGradient(x, dy, weightShape: [c, 1, k, k], geometry: geometry, groups: c).scalars
    let xs = x.scalars, gs = dy.scalars
    var worst = 0.0
    for ch in 0..<c {
      for i in 0..<k {
        for j in 0..<k {
          var sum = 0.0, magnitude = 0.0
          for image in 0..<n {
            for oy in 0..<oh {
              for ox in 0..<ow {
                let y = oy * geometry.strideH + i * geometry.dilationH - geometry.padTop
                let xc = ox * geometry.strideW + j * geometry.dilationW - geometry.padLeft
                guard (0..<h).contains(y), (0..<w).contains(xc) else { continue }
                let term = Double(gs[((image * c + ch) * oh + oy) * ow + ox]) * Double(xs[((image * c + ch) * h + y) * w + xc])
                sum += term
                magnitude += abs(term)
              }
            }
          }
          let got = Double(ours[(ch * k + i) * k + j])
          worst = max(worst, abs(got - sum) / max(magnitude, 1e-12))
        }
      }
    }
    // Float32 accumulation of at most a few hundred products: error well below 1e-6 of their magnitude.
    #expect(worst < 1e-6, "largest error relative to the sum of |terms|: \(worst)")
  }
}
