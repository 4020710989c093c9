import CDNNL

/// One oneDNN convolution primitive (forward, backward-data or backward-weights) for fixed shapes,
/// run on NCHW / OIHW buffers. With `blocked` the primitive picks its own layouts (`format_tag::any`,
/// blocked on AVX-512 CPUs) and every call reorders its inputs from NCHW/OIHW and its output back:
/// the price of using it in an engine that is NCHW everywhere (the weights of forward and
/// backward-data can be reordered once for a batch's calls: ``prepareWeights(_:)``). `run` may be called from several
/// threads at once: each call creates its own memory objects, stream and scratchpad.
/// See ``ConvolutionKernels`` for where the engine uses it.
public final class OneDNNConvolution: @unchecked Sendable {
  public enum Pass: String, CaseIterable, Sendable {
    case forward, backwardData = "backward-data", backwardWeights = "backward-weights"
  }

  public struct Failure: Error, CustomStringConvertible { public let description: String }

  public let pass: Pass
  /// OpenMP threads of each call (oneDNN's CPU runtime in Debian's build).
  public let threads: Int
  /// oneDNN's implementation name (e.g. `jit:avx512_core`, `jit_dw:avx512_core`, `x64:gemm:jit`).
  public let implementation: String
  private let primitive: dnnl_primitive_t?
  private let scratchpad: dnnl_memory_desc_t
  /// The two inputs and the output, in the order of `run`'s arguments.
  private let operands: [Operand]

  /// Input `[n, c, h, w]`, weight `[o, c / groups, kh, kw]`, output `[n, o, oh, ow]`. The `n`
  /// images of input and output lie `imageStride` images apart in the caller's buffers (1: packed).
  /// `outputChannels` (at least `o`; nil: `o`): the channels of an output image in the caller's
  /// buffer, of which the call reads or writes the first `o` (a slice, at the pointer it is given).
  /// `winograd` asks for oneDNN's Winograd algorithm (3x3, stride 1, on its blocked layouts; oneDNN
  /// 2.6 has it on AVX-512 only, and creation fails elsewhere) instead of the direct one.
  public init(
    pass: Pass, input: [Int], weight: [Int], output: [Int], geometry g: ConvGeometry, groups: Int,
    blocked: Bool, threads: Int, imageStride: Int = 1, outputChannels: Int? = nil, winograd: Bool = false
  ) throws {
    self.pass = pass
    self.threads = threads
    // Primitives pick their blocking for the thread count they will run on.
    omp_set_num_threads(Int32(threads))
    let engine = OneDNNContext.shared.engine
    let weightDims = groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    let weightTag = groups == 1 ? dnnl_oihw : dnnl_goihw
    var x = try memoryDesc(input, blocked ? dnnl_format_tag_any : dnnl_nchw)
    var w = try memoryDesc(weightDims, blocked ? dnnl_format_tag_any : weightTag)
    var y = try memoryDesc(output, blocked ? dnnl_format_tag_any : dnnl_nchw)
    let strides: [Int64] = [Int64(g.strideH), Int64(g.strideW)]
    let dilates: [Int64] = [Int64(g.dilationH - 1), Int64(g.dilationW - 1)]
    let padL: [Int64] = [Int64(g.padTop), Int64(g.padLeft)], padR: [Int64] = [Int64(g.padBottom), Int64(g.padRight)]
    var attr: dnnl_primitive_attr_t?
    try check(dnnl_primitive_attr_create(&attr), "attributes")
    defer { dnnl_primitive_attr_destroy(attr) }
    try check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode")

    let algorithm = winograd ? dnnl_convolution_winograd : dnnl_convolution_direct
    var forwardDesc = dnnl_convolution_desc_t()
    try check(dnnl_dilated_convolution_forward_desc_init(
      &forwardDesc, dnnl_forward_training, algorithm, &x, &w, nil, &y, strides, dilates, padL, padR),
      "convolution forward descriptor")
    var forwardPD: dnnl_primitive_desc_t?
    try check(dnnl_primitive_desc_create(&forwardPD, &forwardDesc, attr, engine, nil), "convolution forward")
    defer { dnnl_primitive_desc_destroy(forwardPD) }
    var backwardPD: dnnl_primitive_desc_t?
    defer { if let backwardPD { dnnl_primitive_desc_destroy(backwardPD) } }
    let queries: [dnnl_query_t]
    switch pass {
    case .forward:
      queries = [dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md]
    case .backwardData:
      var d = dnnl_convolution_desc_t()
      try check(dnnl_dilated_convolution_backward_data_desc_init(
        &d, algorithm, &x, &w, &y, strides, dilates, padL, padR), "backward-data descriptor")
      try check(dnnl_primitive_desc_create(&backwardPD, &d, attr, engine, forwardPD), "convolution backward-data")
      queries = [dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md]
    case .backwardWeights:
      var d = dnnl_convolution_desc_t()
      try check(dnnl_dilated_convolution_backward_weights_desc_init(
        &d, algorithm, &x, &w, nil, &y, strides, dilates, padL, padR), "backward-weights descriptor")
      try check(dnnl_primitive_desc_create(&backwardPD, &d, attr, engine, forwardPD), "convolution backward-weights")
      queries = [dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md]
    }
    let pd = backwardPD ?? forwardPD

    var name: UnsafePointer<CChar>?
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
    implementation = name.map { String(cString: $0) } ?? "unknown"
    scratchpad = try queryMD(pd, dnnl_query_scratchpad_md)

    // The caller's (plain) descriptors, in `run`'s order.
    let plainX = try batchDesc(input, imageStride: imageStride), plainW = try memoryDesc(weightDims, weightTag)
    let plainY = try batchDesc(output, imageStride: imageStride, channels: max(outputChannels ?? output[1], output[1]))
    let user: [dnnl_memory_desc_t], arguments: [Int32]
    switch pass {
    case .forward: (user, arguments) = ([plainX, plainW, plainY], [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST])
    case .backwardData:
      (user, arguments) = ([plainY, plainW, plainX], [DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC])
    case .backwardWeights:
      (user, arguments) = ([plainX, plainY, plainW], [DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS])
    }
    operands = try (0..<3).map { i in
      try Operand(user: user[i], primitive: queryMD(pd, queries[i]), argument: arguments[i], isOutput: i == 2, attr: attr)
    }
    var p: dnnl_primitive_t?
    try check(dnnl_primitive_create(&p, pd), "convolution primitive")
    primitive = p
  }

  deinit { dnnl_primitive_destroy(primitive) }

  /// Weights (`run`'s second operand in forward and backward-data) already in the layout the
  /// primitive reads, for several calls on the same weights: the batch's calls then share one
  /// reorder instead of each making its own (the values are the same copy either way).
  public final class PreparedWeights: @unchecked Sendable {
    fileprivate let buffer: UnsafeMutableRawPointer
    fileprivate init(_ buffer: UnsafeMutableRawPointer) { self.buffer = buffer }
    deinit { buffer.deallocate() }
  }

  /// `w` in the primitive's weight layout (nil where the primitive reads the caller's OIHW).
  public func prepareWeights(_ w: UnsafePointer<Float>) -> PreparedWeights? {
    precondition(pass != .backwardWeights, "OneDNNConvolution: the weights are the output of backward-weights")
    omp_set_num_threads(Int32(threads))
    var stream: dnnl_stream_t?
    succeed(dnnl_stream_create(&stream, OneDNNContext.shared.engine, dnnl_stream_default_flags.rawValue), "stream")
    defer { dnnl_stream_destroy(stream) }
    guard let buffer = operands[1].reordered(UnsafeMutableRawPointer(mutating: w), stream: stream) else { return nil }
    dnnl_stream_wait(stream)
    return PreparedWeights(buffer)
  }

  /// Forward: `(x, w) -> y`; backward-data: `(dy, w) -> dx`; backward-weights: `(x, dy) -> dw`.
  /// `weights`: `b` as ``prepareWeights(_:)`` made it from the same values (forward and
  /// backward-data), so that this call skips its own reorder of `b`.
  public func run(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
    weights: PreparedWeights? = nil
  ) {
    omp_set_num_threads(Int32(threads))
    let engine = OneDNNContext.shared.engine
    var stream: dnnl_stream_t?
    succeed(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")
    defer { dnnl_stream_destroy(stream) }
    let bound = [
      operands[0].bind(UnsafeMutableRawPointer(mutating: a)),
      operands[1].bind(UnsafeMutableRawPointer(mutating: b), prepared: weights?.buffer),
      operands[2].bind(UnsafeMutableRawPointer(out)),
    ]
    defer { bound.forEach { $0.release() } }
    for (operand, memory) in zip(operands, bound) where !operand.isOutput { operand.reorderIfNeeded(memory, stream: stream) }
    execute(primitive, scratchpad: scratchpad, stream: stream, bound.enumerated().map { i, m in (operands[i].argument, m.primitive) })
    operands[2].reorderIfNeeded(bound[2], stream: stream)
    dnnl_stream_wait(stream)
  }
}

/// One argument of a primitive: the caller's plain layout, and where the primitive wants another
/// layout, the primitive's layout and the reorder between the two.
private final class Operand {
  let argument: Int32
  let isOutput: Bool
  private let user: dnnl_memory_desc_t, primitive: dnnl_memory_desc_t
  private let reorder: dnnl_primitive_t?
  private let reorderScratchpad: dnnl_memory_desc_t

  init(user: dnnl_memory_desc_t, primitive: dnnl_memory_desc_t, argument: Int32, isOutput: Bool, attr: dnnl_primitive_attr_t?) throws {
    (self.user, self.primitive, self.argument, self.isOutput) = (user, primitive, argument, isOutput)
    var u = user, p = primitive
    if dnnl_memory_desc_equal(&u, &p) != 0 {
      reorder = nil
      reorderScratchpad = dnnl_memory_desc_t()
      return
    }
    let engine = OneDNNContext.shared.engine
    var rpd: dnnl_primitive_desc_t?
    try check(
      isOutput
        ? dnnl_reorder_primitive_desc_create(&rpd, &p, engine, &u, engine, attr)
        : dnnl_reorder_primitive_desc_create(&rpd, &u, engine, &p, engine, attr), "reorder")
    defer { dnnl_primitive_desc_destroy(rpd) }
    reorderScratchpad = try queryMD(rpd, dnnl_query_scratchpad_md)
    var r: dnnl_primitive_t?
    try check(dnnl_primitive_create(&r, rpd), "reorder primitive")
    reorder = r
  }

  deinit { if let reorder { dnnl_primitive_destroy(reorder) } }

  /// The memory objects of one call: the caller's buffer, and the primitive's (its own buffer
  /// where the layouts differ).
  struct Bound {
    let user: dnnl_memory_t?, primitive: dnnl_memory_t?
    /// The primitive's buffer where this call made it (nil: the caller's, or prepared ahead).
    let buffer: UnsafeMutableRawPointer?
    /// The primitive's memory already holds the values (prepared ahead): no reorder.
    let ready: Bool
    func release() {
      if primitive != user { dnnl_memory_destroy(primitive) }
      dnnl_memory_destroy(user)
      buffer?.deallocate()
    }
  }

  /// `pointer` as this call's operand; `prepared`: the values already in the primitive's layout.
  func bind(_ pointer: UnsafeMutableRawPointer, prepared: UnsafeMutableRawPointer? = nil) -> Bound {
    let engine = OneDNNContext.shared.engine
    var u = user, p = primitive
    var userMemory: dnnl_memory_t?
    succeed(dnnl_memory_create(&userMemory, &u, engine, pointer), "memory")
    guard reorder != nil else { return Bound(user: userMemory, primitive: userMemory, buffer: nil, ready: false) }
    let buffer = prepared ?? UnsafeMutableRawPointer.allocate(byteCount: max(dnnl_memory_desc_get_size(&p), 1), alignment: 64)
    var primitiveMemory: dnnl_memory_t?
    succeed(dnnl_memory_create(&primitiveMemory, &p, engine, buffer), "memory")
    return Bound(user: userMemory, primitive: primitiveMemory, buffer: prepared == nil ? buffer : nil, ready: prepared != nil)
  }

  /// An input is reordered into the primitive's layout, an output back into the caller's.
  func reorderIfNeeded(_ m: Bound, stream: dnnl_stream_t?) {
    guard let reorder, !m.ready else { return }
    let (from, to) = isOutput ? (m.primitive, m.user) : (m.user, m.primitive)
    execute(reorder, scratchpad: reorderScratchpad, stream: stream, [(DNNL_ARG_FROM, from), (DNNL_ARG_TO, to)])
  }

  /// An input's values in a buffer of the primitive's layout that the caller owns (deallocate), or
  /// nil where the layouts agree.
  func reordered(_ pointer: UnsafeMutableRawPointer, stream: dnnl_stream_t?) -> UnsafeMutableRawPointer? {
    guard reorder != nil, !isOutput else { return nil }
    let m = bind(pointer)
    reorderIfNeeded(m, stream: stream)
    if m.primitive != m.user { dnnl_memory_destroy(m.primitive) }
    dnnl_memory_destroy(m.user)
    return m.buffer
  }
}

/// Executes `primitive` with `arguments` and, where it needs one, a scratchpad of its own.
private func execute(
  _ primitive: dnnl_primitive_t?, scratchpad: dnnl_memory_desc_t, stream: dnnl_stream_t?,
  _ arguments: [(Int32, dnnl_memory_t?)]
) {
  var md = scratchpad
  let size = dnnl_memory_desc_get_size(&md)
  var args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
  var buffer: UnsafeMutableRawPointer?, memory: dnnl_memory_t?
  if size > 0 {
    buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    succeed(dnnl_memory_create(&memory, &md, OneDNNContext.shared.engine, buffer), "scratchpad")
    args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory))
  }
  defer {
    if let memory { dnnl_memory_destroy(memory) }
    buffer?.deallocate()
  }
  succeed(dnnl_primitive_execute(primitive, stream, Int32(args.count), args), "execute")
}

/// The CPU engine, created once per process.
final class OneDNNContext: @unchecked Sendable {
  static let shared = OneDNNContext()
  let engine: dnnl_engine_t?

  private init() {
    var e: dnnl_engine_t?
    succeed(dnnl_engine_create(&e, dnnl_cpu, 0), "CPU engine")
    engine = e
  }
}

extension OneDNNConvolution {
  /// The instruction set oneDNN's kernels dispatch to on this CPU.
  public static var isa: String {
    switch dnnl_get_effective_cpu_isa() {
    case dnnl_cpu_isa_sse41: "sse41"
    case dnnl_cpu_isa_avx: "avx"
    case dnnl_cpu_isa_avx2: "avx2"
    case dnnl_cpu_isa_avx2_vnni: "avx2_vnni"
    case dnnl_cpu_isa_avx512_core: "avx512_core"
    case dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni"
    case dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16"
    case dnnl_cpu_isa_avx512_core_amx: "avx512_core_amx"
    case let other: "isa 0x" + String(other.rawValue, radix: 16)
    }
  }

  /// Whether oneDNN's kernels run on AVX-512 here (effective ISA `avx512_core` or above).
  static let hasAVX512: Bool = dnnl_get_effective_cpu_isa().rawValue >= dnnl_cpu_isa_avx512_core.rawValue

  /// The library's version, e.g. `2.6.3`.
  public static var version: String {
    guard let v = dnnl_version()?.pointee else { return "unknown" }
    return "\(v.major).\(v.minor).\(v.patch)"
  }
}

private func memoryDesc(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
  var md = dnnl_memory_desc_t()
  let d = dims.map { Int64($0) }
  try check(dnnl_memory_desc_init_by_tag(&md, Int32(d.count), d, dnnl_f32, tag), "memory descriptor \(dims)")
  return md
}

/// NCHW `dims` whose images lie `imageStride` images of `channels` channels (nil: `dims[1]`) apart.
private func batchDesc(_ dims: [Int], imageStride: Int, channels: Int? = nil) throws -> dnnl_memory_desc_t {
  let (c, h, w) = (dims[1], dims[2], dims[3])
  let planes = channels ?? c
  guard imageStride != 1 || planes != c else { return try memoryDesc(dims, dnnl_nchw) }
  var md = dnnl_memory_desc_t()
  let d = dims.map { Int64($0) }, strides = [imageStride * planes * h * w, h * w, w, 1].map { Int64($0) }
  try check(
    dnnl_memory_desc_init_by_strides(&md, 4, d, dnnl_f32, strides),
    "memory descriptor \(dims) every \(imageStride) images of \(planes) channels")
  return md
}

private func queryMD(_ pd: dnnl_primitive_desc_t?, _ what: dnnl_query_t) throws -> dnnl_memory_desc_t {
  guard let md = dnnl_primitive_desc_query_md(pd, what, 0) else {
    throw OneDNNConvolution.Failure(description: "oneDNN: no memory descriptor for query \(what.rawValue)")
  }
  return md.pointee
}

private func check(_ status: dnnl_status_t, _ what: String) throws {
  guard status == dnnl_success else {
    throw OneDNNConvolution.Failure(description: "oneDNN: \(what) failed (status \(status.rawValue))")
  }
}

/// For calls on a primitive that was created: failing here is a bug (or out of memory).
private func succeed(_ status: dnnl_status_t, _ what: String) {
  precondition(status == dnnl_success, "oneDNN: \(what) failed (status \(status.rawValue))")
}
