/// A per-channel affine map with an optional ReLU, `relu(x * scale[c] + shift[c])`, as one
/// primitive: a frozen BatchNorm followed by its ReLU (DenseNet's pre-activations), a convolution's
/// bias or folded BatchNorm shift followed by its ReLU (ResNet, VGG), or a frozen BatchNorm alone.
/// The forward pass reads `x` once and writes once, where the same ops one by one wrote the
/// product, the sum and the ReLU. The arithmetic is theirs (`x * s` rounded, then `+ b` rounded,
/// then the ReLU), so the output has the same bits.
///
/// The VJP reads `x` for the scale's gradient and the output for the ReLU's mask (each kept only
/// when needed; the one-pass VJP recomputes the mask from `x` where it reads `x` anyway). Recorded for a second derivative, it is the composition of differentiable ops
/// (``masked(where:lower:upper:)``, products and sums); otherwise one pass over the gradient gives
/// the input's gradient and the per-channel sums for the scale and the shift, each channel's sums
/// folded by one thread in a fixed order (8 lanes, then the lanes in order), so the values do not
/// depend on the thread count.
extension Tensor {
  /// `x * scale + shift` (then the ReLU when `relu`) with `scale` and `shift` of shape `[C]`
  /// broadcast over axis 1 of `x` (`[N, C, ...]`); `scale` nil is 1.
  public static func channelAffine(_ x: Tensor, scale: Tensor?, shift: Tensor, relu: Bool) -> Tensor {
    let channels = x.rank >= 2 ? x.shape[1] : 0
    shapeCheck(
      x.rank >= 2 && shift.shape == [channels] && (scale?.shape ?? [channels]) == [channels],
      "channelAffine: x must be [N, C, ...] with scale and shift [C], got \(x.shape), \(scale?.shape ?? []), \(shift.shape)")
    let inner = x.count / Swift.max(x.shape[0] * channels, 1)
    let r = Tensor.build(shape: x.shape) { out in
      let p = x.storage.pointer, b = shift.storage.pointer, s = scale?.storage.pointer
      parallelChunks(x.shape[0] * channels, work: x.count) { rows in
        for row in rows {
          let c = row % channels, base = row * inner, shiftC = b[c]
          if let s {
            let scaleC = s[c]
            if relu {
              for i in base..<(base + inner) { let v = p[i] * scaleC + shiftC; out[i] = v > 0 ? v : 0 }
            } else {
              for i in base..<(base + inner) { out[i] = p[i] * scaleC + shiftC }
            }
          } else if relu {
            for i in base..<(base + inner) { let v = p[i] + shiftC; out[i] = v > 0 ? v : 0 }
          } else {
            for i in base..<(base + inner) { out[i] = p[i] + shiftC }
          }
        }
      }
    }
    // x is kept only for the scale's gradient.
    let keptX = scale?.node != nil ? x : nil
    let needs = (x: x.node != nil, scale: scale?.node != nil, shift: shift.node != nil)
    // One gradient per input: x, the scale where there is one, the shift.
    let split: @Sendable (Tensor, Tensor?) -> [Tensor?] = { g, y in
      let mask = relu ? y : nil
      let d = GradientRecording.isEnabled
        ? channelAffineGradients(g, mask: mask, x: keptX, scale: scale, needs: needs)
        : channelAffineGradientPass(g, mask: mask, x: keptX, scale: scale, shift: shift, needs: needs)
      return scale == nil ? [d[0], d[2]] : d
    }
    let inputs = [x] + (scale.map { [$0] } ?? []) + [shift]
    return relu
      ? recordKeepingOutput("channelAffine", r, inputs: inputs, vjp: split)
      : record("channelAffine", r, inputs: inputs) { g in split(g, nil) }
  }

  /// The VJP as differentiable ops (for a recorded backward pass): `[dx, dscale, dshift]`.
  private static func channelAffineGradients(
    _ g: Tensor, mask: Tensor?, x: Tensor?, scale: Tensor?, needs: (x: Bool, scale: Bool, shift: Bool)
  ) -> [Tensor?] {
    let channels = g.shape[1]
    let broadcast = [1, channels] + [Int](repeating: 1, count: g.rank - 2)
    let axes = [0] + Array(2..<g.rank)
    let m = mask.map { g.masked(where: $0, lower: 0) } ?? g
    let dx = needs.x ? (scale.map { m * $0.reshaped(broadcast) } ?? m) : nil
    let dscale = needs.scale ? x.map { (m * $0).sum(alongAxes: axes).reshaped([channels]) } : nil
    let dshift = needs.shift ? m.sum(alongAxes: axes).reshaped([channels]) : nil
    return [dx, dscale, dshift]
  }

  /// The VJP in one pass over `g` (not recorded): `[dx, dscale, dshift]`, the input's gradient and
  /// the per-channel sums.
  /// Where `x` and the scale are at hand, the ReLU's mask is `x * s + b > 0` recomputed with the
  /// forward's arithmetic (the same bits as the output's sign), so the output is not read.
  private static func channelAffineGradientPass(
    _ g: Tensor, mask: Tensor?, x: Tensor?, scale: Tensor?, shift: Tensor, needs: (x: Bool, scale: Bool, shift: Bool)
  ) -> [Tensor?] {
    let (batch, channels) = (g.shape[0], g.shape[1])
    let inner = g.count / Swift.max(batch * channels, 1)
    let gp = g.storage.pointer, xp = x?.storage.pointer, sp = scale?.storage.pointer, bp = shift.storage.pointer
    let recompute = mask != nil && xp != nil && sp != nil
    let mp = recompute ? nil : mask?.storage.pointer
    var sums = [Float](repeating: 0, count: 2 * channels)  // the scale's, then the shift's
    func pass(_ dx: UnsafeMutablePointer<Float>?) {
      sums.withUnsafeMutableBufferPointer { sums in
        let sums = sums.baseAddress!
        parallelChunks(channels, work: g.count) { cs in
          for c in cs {
            var ds = SIMD8<Float>(), db = SIMD8<Float>()
            var dsTail: Float = 0, dbTail: Float = 0
            let s: Float = sp?[c] ?? 1
            for n in 0..<batch {
              var i = (n * channels + c) * inner
              let end = i + inner
              if recompute, let xp {
                let b = bp[c]
                while i + 8 <= end {
                  let xv = UnsafeRawPointer(xp + i).loadUnaligned(as: SIMD8<Float>.self)
                  var m = UnsafeRawPointer(gp + i).loadUnaligned(as: SIMD8<Float>.self)
                  m.replace(with: 0, where: .!(xv * s + b .> 0))
                  if let dx { UnsafeMutableRawPointer(dx + i).storeBytes(of: m * s, as: SIMD8<Float>.self) }
                  ds += m * xv
                  db += m
                  i += 8
                }
                while i < end {
                  let m: Float = xp[i] * s + b > 0 ? gp[i] : 0
                  dx?[i] = m * s
                  dsTail += m * xp[i]
                  dbTail += m
                  i += 1
                }
                continue
              }
              while i + 8 <= end {
                var m = UnsafeRawPointer(gp + i).loadUnaligned(as: SIMD8<Float>.self)
                if let mp { m.replace(with: 0, where: .!(UnsafeRawPointer(mp + i).loadUnaligned(as: SIMD8<Float>.self) .> 0)) }
                if let dx { UnsafeMutableRawPointer(dx + i).storeBytes(of: m * s, as: SIMD8<Float>.self) }
                if let xp { ds += m * UnsafeRawPointer(xp + i).loadUnaligned(as: SIMD8<Float>.self) }
                db += m
                i += 8
              }
              while i < end {
                let m = mp.map { $0[i] > 0 ? gp[i] : 0 } ?? gp[i]
                dx?[i] = m * s
                if let xp { dsTail += m * xp[i] }
                dbTail += m
                i += 1
              }
            }
            sums[c] = ds.sum() + dsTail
            sums[channels + c] = db.sum() + dbTail
          }
        }
      }
    }
    var dx: Tensor?
    if needs.x && (scale != nil || mask != nil) {
      dx = Tensor.build(shape: g.shape) { pass($0) }
    } else {
      pass(nil)
      if needs.x { dx = g }  // the identity: the gradient itself
    }
    let dscale = needs.scale && x != nil ? Tensor(shape: [channels], scalars: Array(sums[0..<channels])) : nil
    let dshift = needs.shift ? Tensor(shape: [channels], scalars: Array(sums[channels...])) : nil
    return [dx, dscale, dshift]
  }
}
