import CDNNL
import ModelFool

/// One oneDNN convolution primitive (forward, backward-data or backward-weights) for fixed shapes,
/// run on the engine's NCHW / OIHW buffers. With `blocked` the primitive picks its own layouts
/// (`format_tag::any`, blocked on this CPU) and every call reorders its inputs from NCHW/OIHW and its
/// output back, inside the call: the price of using it in an engine that is NCHW everywhere.
final class OneDNNConvolution {
  enum Pass: String, CaseIterable { case forward, backwardData = "backward-data", backwardWeights = "backward-weights" }

  struct Failure: Error, CustomStringConvertible { let description: String }

  let pass: Pass
  let threads: Int
  /// oneDNN's implementation name (e.g. `brg:avx512_core`, `jit:avx512_core`, `gemm:jit`).
  let implementation: String
  private var primitive: dnnl_primitive_t?
  /// The two inputs and the output, in the order of `run`'s arguments.
  private var operands: [Operand] = []

  /// Input `[n, c, h, w]`, weight `[o, c / groups, kh, kw]`, output `[n, o, oh, ow]`.
  init(
    pass: Pass, input: [Int], weight: [Int], output: [Int], geometry g: ConvGeometry, groups: Int,
    blocked: Bool, threads: Int
  ) throws {
    self.pass = pass
    self.threads = threads
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

    var forwardDesc = dnnl_convolution_desc_t()
    try check(dnnl_dilated_convolution_forward_desc_init(
      &forwardDesc, dnnl_forward_training, dnnl_convolution_direct, &x, &w, nil, &y, strides, dilates, padL, padR),
      "convolution forward descriptor")
    var forwardPD: dnnl_primitive_desc_t?
    try check(dnnl_primitive_desc_create(&forwardPD, &forwardDesc, nil, engine, nil), "convolution forward")
    defer { dnnl_primitive_desc_destroy(forwardPD) }
    var pd = forwardPD
    var backwardPD: dnnl_primitive_desc_t?
    var queries: [dnnl_query_t]
    switch pass {
    case .forward:
      queries = [dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md]
    case .backwardData:
      var d = dnnl_convolution_desc_t()
      try check(dnnl_dilated_convolution_backward_data_desc_init(
        &d, dnnl_convolution_direct, &x, &w, &y, strides, dilates, padL, padR), "backward-data descriptor")
      try check(dnnl_primitive_desc_create(&backwardPD, &d, nil, engine, forwardPD), "convolution backward-data")
      queries = [dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md]
    case .backwardWeights:
      var d = dnnl_convolution_desc_t()
      try check(dnnl_dilated_convolution_backward_weights_desc_init(
        &d, dnnl_convolution_direct, &x, &w, nil, &y, strides, dilates, padL, padR), "backward-weights descriptor")
      try check(dnnl_primitive_desc_create(&backwardPD, &d, nil, engine, forwardPD), "convolution backward-weights")
      queries = [dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md]
    }
    if let backwardPD { pd = backwardPD }
    defer { if let backwardPD { dnnl_primitive_desc_destroy(backwardPD) } }

    var name: UnsafePointer<CChar>?
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name)
    implementation = name.map { String(cString: $0) } ?? "unknown"

    // The user's (plain) descriptors, in `run`'s order.
    let plainX = try memoryDesc(input, dnnl_nchw), plainW = try memoryDesc(weightDims, weightTag)
    let plainY = try memoryDesc(output, dnnl_nchw)
    let user: [dnnl_memory_desc_t]
    let arguments: [Int32]
    switch pass {
    case .forward: (user, arguments) = ([plainX, plainW, plainY], [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST])
    case .backwardData:
      (user, arguments) = ([plainY, plainW, plainX], [DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC])
    case .backwardWeights:
      (user, arguments) = ([plainX, plainY, plainW], [DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS])
    }
    for i in 0..<3 {
      guard let md = dnnl_primitive_desc_query_md(pd, queries[i], 0) else { throw Failure(description: "no memory descriptor") }
      operands.append(try Operand(user: user[i], primitive: md.pointee, argument: arguments[i], isOutput: i == 2))
    }
    try check(dnnl_primitive_create(&primitive, pd), "convolution primitive")
  }

  deinit { if let primitive { dnnl_primitive_destroy(primitive) } }

  /// Forward: `(x, w) -> y`; backward-data: `(dy, w) -> dx`; backward-weights: `(x, dy) -> dw`.
  func run(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
    omp_set_num_threads(Int32(threads))
    let stream = OneDNNContext.shared.stream
    operands[0].bind(UnsafeMutableRawPointer(mutating: a), stream: stream)
    operands[1].bind(UnsafeMutableRawPointer(mutating: b), stream: stream)
    operands[2].bind(UnsafeMutableRawPointer(out), stream: stream)
    let args = operands.map { dnnl_exec_arg_t(arg: $0.argument, memory: $0.primitiveMemory) }
    let status = dnnl_primitive_execute(primitive, stream, Int32(args.count), args)
    precondition(status == dnnl_success, "oneDNN convolution failed: status \(status.rawValue)")
    operands[2].finish(stream: stream)
    dnnl_stream_wait(stream)
  }
}

/// One argument of a primitive: the user's plain memory, and where the primitive wants another
/// layout, its own buffer and the reorder between the two.
private final class Operand {
  let argument: Int32
  let isOutput: Bool
  private var userMemory: dnnl_memory_t?
  private(set) var primitiveMemory: dnnl_memory_t?
  private var reorder: dnnl_primitive_t?
  private var buffer: UnsafeMutableRawPointer?

  init(user: dnnl_memory_desc_t, primitive: dnnl_memory_desc_t, argument: Int32, isOutput: Bool) throws {
    self.argument = argument
    self.isOutput = isOutput
    let engine = OneDNNContext.shared.engine
    var u = user, p = primitive
    try check(dnnl_memory_create(&userMemory, &u, engine, nil), "memory")
    if dnnl_memory_desc_equal(&u, &p) != 0 {
      primitiveMemory = userMemory
      return
    }
    let size = dnnl_memory_desc_get_size(&p)
    buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    try check(dnnl_memory_create(&primitiveMemory, &p, engine, buffer), "memory")
    var rpd: dnnl_primitive_desc_t?
    try check(
      isOutput
        ? dnnl_reorder_primitive_desc_create(&rpd, &p, engine, &u, engine, nil)
        : dnnl_reorder_primitive_desc_create(&rpd, &u, engine, &p, engine, nil), "reorder")
    defer { dnnl_primitive_desc_destroy(rpd) }
    try check(dnnl_primitive_create(&reorder, rpd), "reorder primitive")
  }

  deinit {
    if let reorder { dnnl_primitive_destroy(reorder) }
    if primitiveMemory != userMemory, let primitiveMemory { dnnl_memory_destroy(primitiveMemory) }
    if let userMemory { dnnl_memory_destroy(userMemory) }
    buffer?.deallocate()
  }

  /// Points the user memory at `pointer`; an input with another layout is reordered now.
  func bind(_ pointer: UnsafeMutableRawPointer, stream: dnnl_stream_t?) {
    dnnl_memory_set_data_handle(userMemory, pointer)
    if !isOutput, reorder != nil { execute(from: userMemory, to: primitiveMemory, stream: stream) }
  }

  /// An output with another layout is reordered into the user memory.
  func finish(stream: dnnl_stream_t?) {
    if isOutput, reorder != nil { execute(from: primitiveMemory, to: userMemory, stream: stream) }
  }

  private func execute(from: dnnl_memory_t?, to: dnnl_memory_t?, stream: dnnl_stream_t?) {
    let args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
    let status = dnnl_primitive_execute(reorder, stream, 2, args)
    precondition(status == dnnl_success, "oneDNN reorder failed: status \(status.rawValue)")
  }
}

/// The CPU engine and its stream, created once per process.
final class OneDNNContext: @unchecked Sendable {
  static let shared = OneDNNContext()
  let engine: dnnl_engine_t?
  let stream: dnnl_stream_t?

  private init() {
    var e: dnnl_engine_t?, s: dnnl_stream_t?
    precondition(dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, "oneDNN: no CPU engine")
    precondition(dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue) == dnnl_success, "oneDNN: no stream")
    engine = e
    stream = s
  }

  /// The instruction set oneDNN's kernels dispatch to on this CPU.
  static var isa: String {
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

  /// The library's version, e.g. `2.6.3`.
  static var version: String {
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

private func check(_ status: dnnl_status_t, _ what: String) throws {
  guard status == dnnl_success else {
    throw OneDNNConvolution.Failure(description: "oneDNN: \(what) failed (status \(status.rawValue))")
  }
}
