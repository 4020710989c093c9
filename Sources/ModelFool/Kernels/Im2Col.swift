/// Raw im2col / col2im kernels for one image (below the Tensor level; the graph never sees them).
///
/// Column layout: row `(c * kh + i) * kw + j`, column `oh * Wo + ow`, i.e. `[C*kh*kw, Ho*Wo]`,
/// so that `weights[O, C*kh*kw] @ cols` is the convolution of one image.
/// Offsets inside the loops use wrapping arithmetic (`&+`, `&*`): they stay within the buffers,
/// and the overflow checks would otherwise run per element.

/// Unfolds `channels` planes of `h` x `w` at `src` into `cols`.
func im2col(
  _ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, cols: UnsafeMutablePointer<Float>
) {
  let plane = outH * outW
  let sameWidth = g.strideH == 1 && g.strideW == 1 && outW == w
  var row = 0
  for c in 0..<channels {
    let image = src + c * h * w
    for i in 0..<g.kh {
      for j in 0..<g.kw {
        let dst = cols + row * plane
        let dy = i * g.dilationH - g.padTop
        let dx = j * g.dilationW - g.padLeft
        if sameWidth {
          shiftedPlaneCopy(image, h: h, w: w, outH: outH, dy: dy, dx: dx, dst: dst)
          row += 1
          continue
        }
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
            let stride = g.strideW
            for ow in owLo..<owHi { d[ow] = line[ow &* stride] }
          }
          if owHi < outW { (d + owHi).update(repeating: 0, count: outW - owHi) }
        }
        row += 1
      }
    }
  }
}

/// Adds the columns back onto `channels` planes of `h` x `w` at `dst` (the adjoint of im2col).
/// `cols` is scratch: the stride-1 path zeroes the entries that fall outside the image.
func col2imAdd(
  _ cols: UnsafeMutablePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, dst: UnsafeMutablePointer<Float>
) {
  let plane = outH * outW
  let sameWidth = g.strideH == 1 && g.strideW == 1 && outW == w
  var row = 0
  for c in 0..<channels {
    let image = dst + c * h * w
    for i in 0..<g.kh {
      for j in 0..<g.kw {
        let src = cols + row * plane
        let dy = i * g.dilationH - g.padTop
        let dx = j * g.dilationW - g.padLeft
        if sameWidth {
          shiftedPlaneAdd(src, h: h, w: w, outH: outH, dy: dy, dx: dx, image: image)
          row += 1
          continue
        }
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
            let stride = g.strideW
            for ow in owLo..<owHi { line[ow &* stride] += s[ow] }
          }
        }
        row += 1
      }
    }
  }
}

/// Rows `oh` of the output whose source row `oh + dy` lies inside `0..<h`.
@inline(__always)
private func validRows(h: Int, outH: Int, dy: Int) -> Range<Int> {
  let lo = Swift.min(outH, Swift.max(0, -dy)), hi = Swift.max(lo, Swift.min(outH, h - dy))
  return lo..<hi
}

/// im2col row for stride 1 when output and input rows have the same width: the plane shifted by
/// `(dy, dx)` with zeros outside. One long copy across rows, then the `|dx|` wrapped columns of
/// each row are zeroed (instead of three short copies per row).
@inline(__always)
private func shiftedPlaneCopy(
  _ image: UnsafePointer<Float>, h: Int, w: Int, outH: Int, dy: Int, dx: Int,
  dst: UnsafeMutablePointer<Float>
) {
  let rows = validRows(h: h, outH: outH, dy: dy)
  if rows.isEmpty || Swift.abs(dx) >= w {
    dst.update(repeating: 0, count: outH * w)
    return
  }
  if rows.lowerBound > 0 { dst.update(repeating: 0, count: rows.lowerBound * w) }
  if rows.upperBound < outH { (dst + rows.upperBound * w).update(repeating: 0, count: (outH - rows.upperBound) * w) }
  let start = rows.lowerBound * w + Swift.max(0, -dx), end = rows.upperBound * w - Swift.max(0, dx)
  (dst + start).update(from: image + start + dy * w + dx, count: end - start)
  zeroWrappedColumns(dst, w: w, rows: rows, dx: dx)
}

/// Zeroes, in rows `rows` of a `w`-wide plane, the columns whose source `ow + dx` is outside `0..<w`.
@inline(__always)
private func zeroWrappedColumns(_ p: UnsafeMutablePointer<Float>, w: Int, rows: Range<Int>, dx: Int) {
  if dx > 0 {
    for r in rows { for k in (w - dx)..<w { p[r &* w &+ k] = 0 } }
  } else if dx < 0 {
    for r in rows { for k in 0..<(-dx) { p[r &* w &+ k] = 0 } }
  }
}

/// The adjoint of ``shiftedPlaneCopy``: adds the shifted column row onto the image. The wrapped
/// columns of `src` are zeroed first so that one long add loop covers all valid rows.
@inline(__always)
private func shiftedPlaneAdd(
  _ src: UnsafeMutablePointer<Float>, h: Int, w: Int, outH: Int, dy: Int, dx: Int,
  image: UnsafeMutablePointer<Float>
) {
  let rows = validRows(h: h, outH: outH, dy: dy)
  if rows.isEmpty || Swift.abs(dx) >= w { return }
  zeroWrappedColumns(src, w: w, rows: rows, dx: dx)
  let start = rows.lowerBound * w + Swift.max(0, -dx), end = rows.upperBound * w - Swift.max(0, dx)
  let d = image + start + dy * w + dx, s = src + start
  for k in 0..<(end - start) { d[k] += s[k] }
}
