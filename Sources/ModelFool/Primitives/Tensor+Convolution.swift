/// Implementation note: convolution is three primitives that are closed under differentiation.
/// With `y = conv(x, w)`:
///   - `conv2d(x, w)`                      VJP: (`convInputGradient(g, w)`, `convWeightGradient(x, g)`)
///   - `convInputGradient(g, w)` (= transposed convolution, linear in both)
///                                         VJP: (`conv2d(u, w)`, `convWeightGradient(u, g)`)
///   - `convWeightGradient(x, g)`          VJP: (`convInputGradient(g, v)`, `conv2d(x, v)`)
/// so second and higher derivatives of any network need no further code. Each runs per image and
/// per group as im2col + one `cblas_sgemm` (1x1 stride-1 convolutions skip im2col); depthwise
/// convolutions (groups = input = output channels) use the direct kernels of DepthwiseConvolution.swift.
/// The three go to oneDNN where it won by measurement (ConvolutionKernels.swift); the primitives
/// and their VJPs stay the same whichever kernel runs.

extension Tensor {
  /// 2-D convolution (cross-correlation) of NCHW `input` with OIHW `weight`
  /// (`[out, in / groups, kh, kw]`), no bias. Output `[N, out, Ho, Wo]`.
  public static func conv2d(
    _ input: Tensor, _ weight: Tensor, geometry: ConvGeometry, groups: Int = 1
  ) -> Tensor {
    let (n, c, h, w) = checkConvShapes(input.shape, weight.shape, geometry: geometry, groups: groups, op: "conv2d")
    let o = weight.shape[0]
    guard let (oh, ow) = geometry.outputSize(h: h, w: w) else {
      fatalError("shape error: conv2d: window (\(geometry)) does not fit input \(input.shape)")
    }
    let cg = c / groups, og = o / groups, kk = cg * geometry.kh * geometry.kw, plane = oh * ow
    let r = Tensor.build(shape: [n, o, oh, ow]) { out in
      if ConvolutionKernels.run(
        .forward, n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow, weight: weight.shape, geometry: geometry,
        groups: groups, input.storage.pointer, weight.storage.pointer, into: out)
      {
        return
      }
      if isDepthwise(channels: c, outputs: o, groups: groups) {  // DepthwiseConvolution.swift
        return depthwiseForward(
          input.storage.pointer, weight.storage.pointer, n: n, c: c, h: h, width: w, geometry: geometry,
          outH: oh, outW: ow, out: out)
      }
      let pointwise = geometry.isPointwise
      // One job per (image, group), each writing its own output block.
      imageJobs(n * groups, flops: n * o * plane * kk) { jobs, nested in
        let cols = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kk * plane)
        defer { cols?.deallocate() }
        for job in jobs {
          let b = job / groups, gi = job % groups
          let src = input.storage.pointer + (b * c + gi * cg) * h * w
          if let cols {
            im2colChannels(src, channels: cg, h: h, w: w, geometry: geometry, outH: oh, outW: ow, cols: cols, nested: nested)
          }
          gemm(
            transposeA: false, transposeB: false, m: og, n: plane, k: kk,
            a: weight.storage.pointer + gi * og * kk, lda: kk,
            b: cols.map { UnsafePointer($0) } ?? UnsafePointer(src), ldb: plane,
            c: out + (b * o + gi * og) * plane, ldc: plane, beta: 0)
        }
      }
    }
    return record("conv2d", r, inputs: [input, weight]) { g in
      [
        !wantsGradient(input, input: 0)
          ? nil : convInputGradient(g, weight, inputShape: input.shape, geometry: geometry, groups: groups),
        !wantsGradient(weight, input: 1)
          ? nil : convWeightGradient(input, g, weightShape: weight.shape, geometry: geometry, groups: groups),
      ]
    }
  }

  /// Gradient of `conv2d` with respect to its input; also the transposed convolution of `gradient`
  /// (`[N, out, Ho, Wo]`) with `weight`, producing `inputShape`.
  public static func convInputGradient(
    _ gradient: Tensor, _ weight: Tensor, inputShape: [Int], geometry: ConvGeometry, groups: Int = 1
  ) -> Tensor {
    let (n, c, h, w) = checkConvShapes(inputShape, weight.shape, geometry: geometry, groups: groups, op: "convTranspose")
    let o = weight.shape[0]
    guard let (oh, ow) = geometry.outputSize(h: h, w: w), gradient.shape == [n, o, oh, ow] else {
      fatalError("shape error: convTranspose: gradient \(gradient.shape) does not match input \(inputShape) with \(geometry)")
    }
    let cg = c / groups, og = o / groups, kk = cg * geometry.kh * geometry.kw, plane = oh * ow
    let r = Tensor.build(shape: inputShape) { out in
      if ConvolutionKernels.run(
        .backwardData, n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow, weight: weight.shape, geometry: geometry,
        groups: groups, gradient.storage.pointer, weight.storage.pointer, into: out)
      {
        return
      }
      if isDepthwise(channels: c, outputs: o, groups: groups) {  // DepthwiseConvolution.swift
        return depthwiseInputGradient(
          gradient.storage.pointer, weight.storage.pointer, n: n, c: c, h: h, width: w, geometry: geometry,
          outH: oh, outW: ow, out: out)
      }
      let pointwise = geometry.isPointwise
      if !pointwise { out.initialize(repeating: 0, count: n * c * h * w) }
      // One job per (image, group); col2im adds only into that image's channels of the group.
      imageJobs(n * groups, flops: n * o * plane * kk) { jobs, nested in
        let cols = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kk * plane)
        defer { cols?.deallocate() }
        for job in jobs {
          let b = job / groups, gi = job % groups
          let dst = out + (b * c + gi * cg) * h * w
          gemm(
            transposeA: true, transposeB: false, m: kk, n: plane, k: og,
            a: weight.storage.pointer + gi * og * kk, lda: kk,
            b: gradient.storage.pointer + (b * o + gi * og) * plane, ldb: plane,
            c: cols ?? dst, ldc: plane, beta: 0)
          if let cols {
            col2imChannels(cols, channels: cg, h: h, w: w, geometry: geometry, outH: oh, outW: ow, dst: dst, nested: nested)
          }
        }
      }
    }
    return record("convInputGradient", r, inputs: [gradient, weight]) { u in
      [
        !wantsGradient(gradient, input: 0) ? nil : conv2d(u, weight, geometry: geometry, groups: groups),
        !wantsGradient(weight, input: 1)
          ? nil : convWeightGradient(u, gradient, weightShape: weight.shape, geometry: geometry, groups: groups),
      ]
    }
  }

  /// Gradient of `conv2d` with respect to its weight, for `input` and output `gradient`.
  public static func convWeightGradient(
    _ input: Tensor, _ gradient: Tensor, weightShape: [Int], geometry: ConvGeometry, groups: Int = 1
  ) -> Tensor {
    let (n, c, h, w) = checkConvShapes(input.shape, weightShape, geometry: geometry, groups: groups, op: "convWeightGradient")
    let o = weightShape[0]
    guard let (oh, ow) = geometry.outputSize(h: h, w: w), gradient.shape == [n, o, oh, ow] else {
      fatalError("shape error: convWeightGradient: gradient \(gradient.shape) does not match input \(input.shape) with \(geometry)")
    }
    let cg = c / groups, og = o / groups, kk = cg * geometry.kh * geometry.kw, plane = oh * ow
    let r = Tensor.build(shape: weightShape) { out in
      if ConvolutionKernels.run(
        .backwardWeights, n: n, c: c, h: h, w: w, o: o, oh: oh, ow: ow, weight: weightShape, geometry: geometry,
        groups: groups, input.storage.pointer, gradient.storage.pointer, into: out)
      {
        return
      }
      if isDepthwise(channels: c, outputs: o, groups: groups) {  // DepthwiseConvolution.swift
        return depthwiseWeightGradient(
          input.storage.pointer, gradient.storage.pointer, n: n, c: c, h: h, width: w, geometry: geometry,
          outH: oh, outW: ow, out: out)
      }
      let pointwise = geometry.isPointwise
      // Accumulates the transposed gradient `[kk, og]` per group (`cols @ gradientᵀ`): OpenBLAS
      // runs that orientation ~15% faster than `gradient @ colsᵀ` for these shapes (long k).
      let transposed = UnsafeMutablePointer<Float>.allocate(capacity: groups * kk * og)
      defer { transposed.deallocate() }
      // Split over the input channels of a group (rows of the result); each chunk adds the images
      // up in order. OpenBLAS's bits for a row depend on the rows around it in the call, so the
      // chunks depend on the shape only (at most 8), never on the thread count.
      let taps = geometry.kh * geometry.kw
      let chunks = Swift.max(1, Swift.min(8, cg, kk * og * plane / gemmSplitMinimum))
      parallelChunks(chunks, work: chunks > 1 ? Int.max : 0) { part in
        for chunk in part {
          let c0 = cg * chunk / chunks, c1 = cg * (chunk + 1) / chunks, rows = (c1 - c0) * taps
          let cols = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: rows * plane)
          defer { cols?.deallocate() }
          for b in 0..<n {
            for gi in 0..<groups {
              let src = input.storage.pointer + (b * c + gi * cg + c0) * h * w
              if let cols {
                im2col(src, channels: c1 - c0, h: h, w: w, geometry: geometry, outH: oh, outW: ow, cols: cols)
              }
              gemm(
                transposeA: false, transposeB: true, m: rows, n: og, k: plane,
                a: cols.map { UnsafePointer($0) } ?? UnsafePointer(src), lda: plane,
                b: gradient.storage.pointer + (b * o + gi * og) * plane, ldb: plane,
                c: transposed + gi * kk * og + c0 * taps * og, ldc: og, beta: b == 0 ? 0 : 1)
            }
          }
        }
      }
      for gi in 0..<groups {
        transposeMatrix(transposed + gi * kk * og, rows: kk, cols: og, into: out + gi * og * kk)
      }
    }
    return record("convWeightGradient", r, inputs: [input, gradient]) { v in
      [
        !wantsGradient(input, input: 0)
          ? nil : convInputGradient(gradient, v, inputShape: input.shape, geometry: geometry, groups: groups),
        !wantsGradient(gradient, input: 1) ? nil : conv2d(input, v, geometry: geometry, groups: groups),
      ]
    }
  }

  /// Transposed convolution ("deconvolution") of NCHW `input` with weight `[in, out / groups, kh, kw]`
  /// (PyTorch's layout), producing spatial size `(H-1)*stride - padding + dilation*(k-1) + 1 + outputPadding`.
  public static func convTranspose2d(
    _ input: Tensor, _ weight: Tensor, geometry: ConvGeometry, groups: Int = 1,
    outputPadding: (Int, Int) = (0, 0)
  ) -> Tensor {
    shapeCheck(input.rank == 4 && weight.rank == 4, "convTranspose2d: need NCHW input and 4-D weight, got \(input.shape), \(weight.shape)")
    let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
    let outH = (h - 1) * geometry.strideH - geometry.padTop - geometry.padBottom
      + geometry.dilationH * (geometry.kh - 1) + 1 + outputPadding.0
    let outW = (w - 1) * geometry.strideW - geometry.padLeft - geometry.padRight
      + geometry.dilationW * (geometry.kw - 1) + 1 + outputPadding.1
    let cOut = weight.shape[1] * groups
    return convInputGradient(input, weight, inputShape: [n, cOut, outH, outW], geometry: geometry, groups: groups)
  }
}

/// Validates NCHW input and OIHW weight shapes for a grouped convolution; returns (N, C, H, W).
func checkConvShapes(
  _ input: [Int], _ weight: [Int], geometry: ConvGeometry, groups: Int, op: String
) -> (Int, Int, Int, Int) {
  shapeCheck(input.count == 4, "\(op): input must be NCHW (rank 4), got \(input)")
  shapeCheck(weight.count == 4, "\(op): weight must be [out, in/groups, kh, kw], got \(weight)")
  shapeCheck(groups > 0 && input[1] % groups == 0 && weight[0] % groups == 0,
    "\(op): groups \(groups) must divide input channels \(input[1]) and output channels \(weight[0])")
  shapeCheck(weight[1] * groups == input[1],
    "\(op): weight \(weight) expects \(weight[1] * groups) input channels, input \(input) has \(input[1])")
  shapeCheck(weight[2] == geometry.kh && weight[3] == geometry.kw,
    "\(op): weight kernel \(weight[2])x\(weight[3]) differs from geometry \(geometry.kh)x\(geometry.kw)")
  return (input[0], input[1], input[2], input[3])
}

/// Multiply-adds below which a GEMM is never split: OpenBLAS 0.3.21 runs its small-matrix
/// kernels (another summation order) at M*N*K <= 1e6 on AVX-512 cores.
let gemmSplitMinimum = 1 << 21

/// Runs `body(jobs, nested)` over `0..<count` independent GEMM jobs (images x groups): split over
/// the pool when there are at least as many jobs as threads and `flops` is worth it (`nested`
/// true), else on the calling thread.
func imageJobs(_ count: Int, flops: Int, _ body: (Range<Int>, _ nested: Bool) -> Void) {
  let threads = EngineThreads.count
  guard threads > 1, count >= threads, flops >= 64 * parallelThreshold else { return body(0..<count, false) }
  parallelChunks(count, work: flops, minimumWork: 0) { body($0, true) }
}

/// ``im2col(_:channels:h:w:geometry:outH:outW:cols:)`` split over channels on the pool unless
/// `nested` (already inside a parallel region). Channel `c` fills only its own rows of `cols`.
func im2colChannels(
  _ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, cols: UnsafeMutablePointer<Float>, nested: Bool
) {
  channelChunks(channels, geometry: g, outH: outH, outW: outW, nested: nested) { part, rows in
    im2col(
      src + part.lowerBound * h * w, channels: part.count, h: h, w: w, geometry: g, outH: outH, outW: outW,
      cols: cols + part.lowerBound * rows)
  }
}

/// ``col2imAdd(_:channels:h:w:geometry:outH:outW:dst:)`` split over channels on the pool unless
/// `nested`. The rows of channel `c` add only onto plane `c`, so each plane has one writer.
func col2imChannels(
  _ cols: UnsafeMutablePointer<Float>, channels: Int, h: Int, w: Int, geometry g: ConvGeometry,
  outH: Int, outW: Int, dst: UnsafeMutablePointer<Float>, nested: Bool
) {
  channelChunks(channels, geometry: g, outH: outH, outW: outW, nested: nested) { part, rows in
    col2imAdd(
      cols + part.lowerBound * rows, channels: part.count, h: h, w: w, geometry: g, outH: outH,
      outW: outW, dst: dst + part.lowerBound * h * w)
  }
}

/// Chunks of channels for the im2col family; `body(channels, columnRowsPerChannel)`.
@inline(__always)
private func channelChunks(
  _ channels: Int, geometry g: ConvGeometry, outH: Int, outW: Int, nested: Bool,
  _ body: (Range<Int>, Int) -> Void
) {
  let rows = g.kh * g.kw * outH * outW
  parallelChunks(channels, work: nested ? 0 : channels * rows) { body($0, rows) }
}
