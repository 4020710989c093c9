/// Raw im2col / col2im kernels for one image (below the Tensor level; the graph never sees them).
///
/// Column layout: row `(c * kh + i) * kw + j`, column `oh * Wo + ow`, i.e. `[C*kh*kw, Ho*Wo]`,
/// so that `weights[O, C*kh*kw] @ cols` is the convolution of one image.

/// Unfolds `channels` planes of `h` x `w` at `src` into `cols`.
func im2col(
  _ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, cols: UnsafeMutablePointer<Float>
) {
  let plane = outH * outW
  var row = 0
  for c in 0..<channels {
    let image = src + c * h * w
    for i in 0..<g.kh {
      for j in 0..<g.kw {
        let dst = cols + row * plane
        let dy = i * g.dilationH - g.padTop
        let dx = j * g.dilationW - g.padLeft
        // Valid output columns: 0 <= ow*stride + dx < w.
        let owLo = dx >= 0 ? 0 : Swift.min(outW, (-dx + g.strideW - 1) / g.strideW)
        let owHi = Swift.max(owLo, Swift.min(outW, w - dx > 0 ? (w - dx - 1) / g.strideW + 1 : 0))
        for oh in 0..<outH {
          let y = oh * g.strideH + dy
          let d = dst + oh * outW
          if y < 0 || y >= h {
            d.update(repeating: 0, count: outW)
            continue
          }
          let line = image + y * w + dx
          if owLo > 0 { d.update(repeating: 0, count: owLo) }
          if g.strideW == 1 {
            (d + owLo).update(from: line + owLo, count: owHi - owLo)
          } else {
            for ow in owLo..<owHi { d[ow] = line[ow * g.strideW] }
          }
          if owHi < outW { (d + owHi).update(repeating: 0, count: outW - owHi) }
        }
        row += 1
      }
    }
  }
}

/// Adds the columns back onto `channels` planes of `h` x `w` at `dst` (the adjoint of im2col).
func col2imAdd(
  _ cols: UnsafePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, dst: UnsafeMutablePointer<Float>
) {
  let plane = outH * outW
  var row = 0
  for c in 0..<channels {
    let image = dst + c * h * w
    for i in 0..<g.kh {
      for j in 0..<g.kw {
        let src = cols + row * plane
        let dy = i * g.dilationH - g.padTop
        let dx = j * g.dilationW - g.padLeft
        let owLo = dx >= 0 ? 0 : Swift.min(outW, (-dx + g.strideW - 1) / g.strideW)
        let owHi = Swift.max(owLo, Swift.min(outW, w - dx > 0 ? (w - dx - 1) / g.strideW + 1 : 0))
        for oh in 0..<outH {
          let y = oh * g.strideH + dy
          if y < 0 || y >= h { continue }
          let line = image + y * w + dx
          let s = src + oh * outW
          if g.strideW == 1 {
            for ow in owLo..<owHi { line[ow] += s[ow] }
          } else {
            for ow in owLo..<owHi { line[ow * g.strideW] += s[ow] }
          }
        }
        row += 1
      }
    }
  }
}
