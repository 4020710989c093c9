/// Direct kernels for depthwise convolution (`groups == in == out channels`, weight `[C, 1, kh, kw]`),
/// used by the three convolution primitives (`conv2d`, `convInputGradient`, `convWeightGradient`)
/// in place of per-group im2col + GEMM, whose GEMMs have M = 1 and spend their time in overhead.
/// The primitives' VJPs are unchanged, so depthwise convolutions stay differentiable to any order.
///
/// With `x` `[N, C, H, W]`, `w` `[C, 1, kh, kw]`, `g` `[N, C, Ho, Wo]` and
/// `pos(o, i) = o * stride + i * dilation - padBefore`:
///   - forward:         `y[n, c, oy, ox] = sum_{i, j} w[c, i, j] * x[n, c, pos(oy, i), pos(ox, j)]`
///   - input gradient:  `dx[n, c, pos(oy, i), pos(ox, j)] += w[c, i, j] * g[n, c, oy, ox]`
///   - weight gradient: `dw[c, i, j] = sum_{n, oy, ox} g[n, c, oy, ox] * x[n, c, pos(oy, i), pos(ox, j)]`
/// (out-of-range positions are the zero padding and contribute nothing).
/// Offsets inside the loops use wrapping arithmetic (`&+`, `&*`): they stay within the buffers,
/// and overflow checks in the inner loops would cost more than the multiply-adds.

/// True when `conv2d(input, weight, groups:)` is a depthwise convolution with multiplier 1.
@inline(__always)
func isDepthwise(channels c: Int, outputs o: Int, groups: Int) -> Bool {
  groups > 1 && groups == c && o == c
}

/// The output columns `ox` whose input column `ox * strideW + dx` lies in `0..<w`.
@inline(__always)
private func validColumns(dx: Int, w: Int, outW: Int, strideW: Int) -> Range<Int> {
  let lo = dx >= 0 ? 0 : Swift.min(outW, (-dx + strideW - 1) / strideW)
  let hi = Swift.max(lo, Swift.min(outW, w - dx > 0 ? (w - dx - 1) / strideW + 1 : 0))
  return lo..<hi
}

/// `to[k] += weight * from[k]` for `k < count` (8 lanes at a time).
@inline(__always)
private func axpy(_ count: Int, _ weight: Float, _ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>) {
  var k = 0
  let wv = SIMD8<Float>(repeating: weight)
  while k + 8 <= count {
    let a = UnsafeRawPointer(from + k).loadUnaligned(as: SIMD8<Float>.self)
    let b = UnsafeRawPointer(to + k).loadUnaligned(as: SIMD8<Float>.self)
    UnsafeMutableRawPointer(to + k).storeBytes(of: b + wv * a, as: SIMD8<Float>.self)
    k &+= 8
  }
  while k < count {
    to[k] += weight * from[k]
    k &+= 1
  }
}

/// `sum_k a[k] * b[k]` for `k < count` (8 lanes at a time).
@inline(__always)
private func dot(_ count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
  var k = 0
  var acc = SIMD8<Float>(repeating: 0)
  while k + 8 <= count {
    acc += UnsafeRawPointer(a + k).loadUnaligned(as: SIMD8<Float>.self)
      * UnsafeRawPointer(b + k).loadUnaligned(as: SIMD8<Float>.self)
    k &+= 8
  }
  var sum = acc.sum()
  while k < count {
    sum += a[k] * b[k]
    k &+= 1
  }
  return sum
}

/// One kernel tap `(i, j)`: the input offsets and the output rows and columns it reaches.
private struct Tap {
  let dy: Int, dx: Int, rows: Range<Int>, columns: Range<Int>

  init(_ i: Int, _ j: Int, _ g: ConvGeometry, h: Int, w: Int, outH: Int, outW: Int) {
    dy = i * g.dilationH - g.padTop
    dx = j * g.dilationW - g.padLeft
    rows = validColumns(dx: dy, w: h, outW: outH, strideW: g.strideH)
    columns = validColumns(dx: dx, w: w, outW: outW, strideW: g.strideW)
  }
}

private func taps(_ g: ConvGeometry, h: Int, w: Int, outH: Int, outW: Int) -> [Tap] {
  (0..<g.kh).flatMap { i in (0..<g.kw).map { j in Tap(i, j, g, h: h, w: w, outH: outH, outW: outW) } }
}

/// `out` (`[N, C, Ho, Wo]`) = depthwise convolution of `x` with `w`.
func depthwiseForward(
  _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, n: Int, c: Int, h: Int, width: Int,
  geometry g: ConvGeometry, outH: Int, outW: Int, out: UnsafeMutablePointer<Float>
) {
  if PhasePadding.applies(g) {
    return depthwiseForwardPadded(x, w, n: n, c: c, h: h, width: width, geometry: g, outH: outH, outW: outW, out: out)
  }
  let all = taps(g, h: h, w: width, outH: outH, outW: outW)
  let kk = all.count, sh = g.strideH, sw = g.strideW
  out.initialize(repeating: 0, count: n * c * outH * outW)
  parallelChunks(n * c, work: n * c * outH * outW * kk) { planes in
    for plane in planes {
      let src = x + plane * h * width
      let dst = out + plane * outH * outW
      let kernel = w + (plane % c) * kk
      for (t, tap) in all.enumerated() {
        let weight = kernel[t], lo = tap.columns.lowerBound, count = tap.columns.count
        if count == 0 { continue }
        for oy in tap.rows {
          let line = src + (oy * sh + tap.dy) * width
          let row = dst + oy * outW
          if sw == 1 {
            axpy(count, weight, line + (lo + tap.dx), row + lo)
          } else {
            for ox in tap.columns { row[ox] += weight * line[ox &* sw &+ tap.dx] }
          }
        }
      }
    }
  }
}

/// One plane copied into a zero-padded buffer split into `strideW` column phases (phase `p` holds
/// padded columns `p, p + strideW, ...`), for dilation 1 and horizontal stride 1 or 2: tap `(i, j)`
/// of 8 consecutive outputs `ox` then reads 8 contiguous floats, from phase `j % strideW`, column
/// `ox + j / strideW`, padded row `oy * strideH + i`. Rows are padded to whole blocks of 8 outputs.
private struct PhasePadding {
  let g: ConvGeometry
  let h: Int, width: Int, outH: Int, outW: Int
  let blocks: Int, phaseWidth: Int, paddedH: Int, phaseSize: Int
  /// Where tap column j starts in the buffer: phase j % sw, column j / sw (no division per tap).
  let tapColumns: [Int]

  static func applies(_ g: ConvGeometry) -> Bool { g.dilationH == 1 && g.dilationW == 1 && g.strideW <= 2 }

  init(_ g: ConvGeometry, h: Int, width: Int, outH: Int, outW: Int) {
    let sw = g.strideW
    (self.g, self.h, self.width, self.outH, self.outW) = (g, h, width, outH, outW)
    blocks = (outW + 7) / 8
    phaseWidth = blocks * 8 + (g.kw - 1) / sw + 1
    paddedH = (outH - 1) * g.strideH + g.kh
    let size = paddedH * phaseWidth
    phaseSize = size
    tapColumns = (0..<g.kw).map { j in (j % sw) * size + j / sw }
  }

  /// Floats of the padded buffer.
  var count: Int { g.strideW * phaseSize }

  /// Copies the plane at `src` into `buffer` (`count` floats), zeros around it.
  func fill(_ buffer: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>) {
    let sw = g.strideW
    buffer.initialize(repeating: 0, count: count)
    for py in 0..<paddedH {
      let y = py - g.padTop
      if y < 0 || y >= h { continue }
      let line = src + y * width
      for p in 0..<sw {
        let phaseRow = buffer + p * phaseSize + py * phaseWidth
        // Padded column q * sw + p is input column q * sw + p - padLeft; copy the q inside the image.
        let offset = p - g.padLeft
        let qLo = offset >= 0 ? 0 : (-offset + sw - 1) / sw
        let qHi = Swift.min(phaseWidth, width - offset > 0 ? (width - offset - 1) / sw + 1 : 0)
        if qHi <= qLo { continue }
        if sw == 1 {
          (phaseRow + qLo).update(from: line + (qLo + offset), count: qHi - qLo)
        } else {
          for q in qLo..<qHi { phaseRow[q] = line[q &* sw &+ offset] }
        }
      }
    }
  }
}

/// The forward pass on ``PhasePadding``, register-blocked: the kh x kw products of 8 outputs
/// accumulate in one SIMD register.
func depthwiseForwardPadded(
  _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, n: Int, c: Int, h: Int, width: Int,
  geometry g: ConvGeometry, outH: Int, outW: Int, out: UnsafeMutablePointer<Float>
) {
  let sh = g.strideH, kh = g.kh, kw = g.kw, kk = kh * kw
  let padding = PhasePadding(g, h: h, width: width, outH: outH, outW: outW)
  let blocks = padding.blocks, phaseWidth = padding.phaseWidth
  // Planes are independent: each chunk has its own padded buffer.
  parallelChunks(n * c, work: n * c * outH * outW * kk) { planes in
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: padding.count + blocks * 8)
    defer { buffer.deallocate() }
    let rowOut = buffer + padding.count
    var weights = [SIMD8<Float>](repeating: SIMD8(repeating: 0), count: kk)
    for plane in planes {
      let dst = out + plane * outH * outW
      let kernel = w + (plane % c) * kk
      for t in 0..<kk { weights[t] = SIMD8(repeating: kernel[t]) }
      padding.fill(buffer, from: x + plane * h * width)
      weights.withUnsafeBufferPointer { wv in
        padding.tapColumns.withUnsafeBufferPointer { columns in
          for oy in 0..<outH {
            for b in 0..<blocks {
              var acc = SIMD8<Float>(repeating: 0)
              for i in 0..<kh {
                let rowStart = (oy &* sh &+ i) &* phaseWidth &+ b &* 8
                for j in 0..<kw {
                  let from = buffer + (columns[j] &+ rowStart)
                  acc += wv[i &* kw &+ j] * UnsafeRawPointer(from).loadUnaligned(as: SIMD8<Float>.self)
                }
              }
              UnsafeMutableRawPointer(rowOut + b &* 8).storeBytes(of: acc, as: SIMD8<Float>.self)
            }
            (dst + oy * outW).update(from: rowOut, count: outW)
          }
        }
      }
    }
  }
}

/// The weight gradient on ``PhasePadding``: per channel, 8 lanes per tap accumulate
/// `gradient[oy, ox..<ox+8] * tap's inputs` over the images in order, the rows and the blocks of
/// each row (the lanes past the last output read a zero gradient), then each tap's lanes are
/// summed. One chunk computes a channel, so the result does not depend on the thread count.
/// Assumes finite inputs: an infinity in a padded lane would meet a zero gradient (0 * inf).
func depthwiseWeightGradientPadded(
  _ x: UnsafePointer<Float>, _ gradient: UnsafePointer<Float>, n: Int, c: Int, h: Int, width: Int,
  geometry g: ConvGeometry, outH: Int, outW: Int, out: UnsafeMutablePointer<Float>
) {
  let sh = g.strideH, kh = g.kh, kw = g.kw, kk = kh * kw
  let padding = PhasePadding(g, h: h, width: width, outH: outH, outW: outW)
  let blocks = padding.blocks, phaseWidth = padding.phaseWidth
  parallelChunks(c, work: n * c * outH * outW * kk) { channels in
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: padding.count + blocks * 8)
    defer { buffer.deallocate() }
    let rowGradient = buffer + padding.count
    rowGradient.initialize(repeating: 0, count: blocks * 8)
    var sums = [SIMD8<Float>](repeating: SIMD8(repeating: 0), count: kk)
    for ch in channels {
      for t in 0..<kk { sums[t] = SIMD8(repeating: 0) }
      sums.withUnsafeMutableBufferPointer { acc in
        padding.tapColumns.withUnsafeBufferPointer { columns in
          for image in 0..<n {
            let plane = image * c + ch
            padding.fill(buffer, from: x + plane * h * width)
            let grad = gradient + plane * outH * outW
            for oy in 0..<outH {
              rowGradient.update(from: grad + oy * outW, count: outW)
              for b in 0..<blocks {
                let gv = UnsafeRawPointer(rowGradient + b &* 8).loadUnaligned(as: SIMD8<Float>.self)
                for i in 0..<kh {
                  let rowStart = (oy &* sh &+ i) &* phaseWidth &+ b &* 8
                  for j in 0..<kw {
                    let from = buffer + (columns[j] &+ rowStart)
                    acc[i &* kw &+ j] += gv * UnsafeRawPointer(from).loadUnaligned(as: SIMD8<Float>.self)
                  }
                }
              }
            }
          }
        }
      }
      for t in 0..<kk { out[ch * kk + t] = sums[t].sum() }
    }
  }
}

/// `out` (`[N, C, H, W]`) = transposed depthwise convolution of `gradient` (`[N, C, Ho, Wo]`) with `w`.
func depthwiseInputGradient(
  _ gradient: UnsafePointer<Float>, _ w: UnsafePointer<Float>, n: Int, c: Int, h: Int, width: Int,
  geometry g: ConvGeometry, outH: Int, outW: Int, out: UnsafeMutablePointer<Float>
) {
  let all = taps(g, h: h, w: width, outH: outH, outW: outW)
  let kk = all.count, sh = g.strideH, sw = g.strideW
  out.initialize(repeating: 0, count: n * c * h * width)
  parallelChunks(n * c, work: n * c * outH * outW * kk) { planes in
    for plane in planes {
      let src = gradient + plane * outH * outW
      let dst = out + plane * h * width
      let kernel = w + (plane % c) * kk
      for (t, tap) in all.enumerated() {
        let weight = kernel[t], lo = tap.columns.lowerBound, count = tap.columns.count
        if count == 0 { continue }
        for oy in tap.rows {
          let line = dst + (oy * sh + tap.dy) * width
          let row = src + oy * outW
          if sw == 1 {
            axpy(count, weight, row + lo, line + (lo + tap.dx))
          } else {
            for ox in tap.columns { line[ox &* sw &+ tap.dx] += weight * row[ox] }
          }
        }
      }
    }
  }
}

/// `out` (`[C, 1, kh, kw]`) = gradient of the depthwise convolution's weight for input `x` and
/// output gradient `gradient`.
func depthwiseWeightGradient(
  _ x: UnsafePointer<Float>, _ gradient: UnsafePointer<Float>, n: Int, c: Int, h: Int, width: Int,
  geometry g: ConvGeometry, outH: Int, outW: Int, out: UnsafeMutablePointer<Float>
) {
  if PhasePadding.applies(g) {
    return depthwiseWeightGradientPadded(
      x, gradient, n: n, c: c, h: h, width: width, geometry: g, outH: outH, outW: outW, out: out)
  }
  let all = taps(g, h: h, w: width, outH: outH, outW: outW)
  let kk = all.count, sh = g.strideH, sw = g.strideW
  out.initialize(repeating: 0, count: c * kk)
  // Split over channels; each channel sums its images in the serial order (image 0 first).
  parallelChunks(c, work: n * c * outH * outW * kk) { channels in
    for ch in channels {
      for image in 0..<n {
        let plane = image * c + ch
        let src = x + plane * h * width
        let grad = gradient + plane * outH * outW
        let kernel = out + (plane % c) * kk
        for (t, tap) in all.enumerated() {
          let lo = tap.columns.lowerBound, count = tap.columns.count
          if count == 0 { continue }
          var sum: Float = 0
          for oy in tap.rows {
            let line = src + (oy * sh + tap.dy) * width
            let row = grad + oy * outW
            if sw == 1 {
              sum += dot(count, row + lo, line + (lo + tap.dx))
            } else {
              for ox in tap.columns { sum += row[ox] * line[ox &* sw &+ tap.dx] }
            }
          }
          kernel[t] += sum
        }
      }
    }
  }
}
