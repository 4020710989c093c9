import ModelFool

/// `modelfool bench conv`: the engine's convolutions (im2col + OpenBLAS, direct depthwise kernels)
/// against oneDNN, per shape and pass, on plain NCHW memory and on oneDNN's preferred (blocked)
/// layouts with the reorders from and to NCHW inside the timed call.
public enum ConvBenchmark {
  public struct Shape: Sendable {
    public let name: String
    public let n: Int, c: Int, h: Int, w: Int, o: Int, groups: Int
    public let geometry: ConvGeometry

    /// Square kernel `k`; TensorFlow SAME padding when `same`, else `pad` on every side.
    init(_ name: String, n: Int, c: Int, size: Int, o: Int, k: Int, stride: Int = 1, pad: Int = 0, same: Bool = false, depthwise: Bool = false) {
      self.name = name
      (self.n, self.c, self.h, self.w, self.o, self.groups) = (n, c, size, size, o, depthwise ? c : 1)
      let p = same ? ConvGeometry.samePadding(input: size, kernel: k, stride: stride) : (pad, pad)
      geometry = ConvGeometry(kernel: (k, k), stride: (stride, stride), padding: (top: p.0, bottom: p.1, left: p.0, right: p.1))
    }

    var output: (Int, Int) { geometry.outputSize(h: h, w: w)! }
    var inputShape: [Int] { [n, c, h, w] }
    var weightShape: [Int] { [o, c / groups, geometry.kh, geometry.kw] }
    var outputShape: [Int] { [n, o, output.0, output.1] }
    /// Multiply-adds x 2 of one pass (the same for all three).
    var flops: Double { 2.0 * Double(n * o * output.0 * output.1 * (c / groups) * geometry.kh * geometry.kw) }
  }

  /// The digits CNN's and the reference workload's convolutions (batch 32), representative
  /// EfficientNet-Lite0 convolutions at batch 4 of 224x224 (TensorFlow SAME padding), and the
  /// paper's networks' at batch 2.
  public static let shapes: [Shape] = [
    Shape("digits conv 1->32 28x28", n: 32, c: 1, size: 28, o: 32, k: 3, pad: 1),
    Shape("digits conv 32->64 14x14", n: 32, c: 32, size: 14, o: 64, k: 3, pad: 1),
    Shape("digits conv 64->128 7x7", n: 32, c: 64, size: 7, o: 128, k: 3, pad: 1),
    Shape("reference conv 3->16 32x32", n: 32, c: 3, size: 32, o: 16, k: 3, pad: 1),
    Shape("reference conv 16->32 32x32", n: 32, c: 16, size: 32, o: 32, k: 3, pad: 1),
    Shape("effnet stem 3->32 s2 224", n: 4, c: 3, size: 224, o: 32, k: 3, stride: 2, same: true),
    Shape("effnet dw3x3 32 s1 112", n: 4, c: 32, size: 112, o: 32, k: 3, same: true, depthwise: true),
    Shape("effnet dw3x3 96 s2 112", n: 4, c: 96, size: 112, o: 96, k: 3, stride: 2, same: true, depthwise: true),
    Shape("effnet dw5x5 240 s1 28", n: 4, c: 240, size: 28, o: 240, k: 5, same: true, depthwise: true),
    Shape("effnet dw5x5 144 s2 56", n: 4, c: 144, size: 56, o: 144, k: 5, stride: 2, same: true, depthwise: true),
    Shape("effnet 1x1 16->96 112", n: 4, c: 16, size: 112, o: 96, k: 1),
    Shape("effnet 1x1 40->240 28", n: 4, c: 40, size: 28, o: 240, k: 1),
    Shape("effnet 1x1 240->40 28", n: 4, c: 240, size: 28, o: 40, k: 1),
    Shape("effnet 1x1 320->1280 7", n: 4, c: 320, size: 7, o: 1280, k: 1),
    // The paper's networks at batch 2: VGG-19's 3x3 convolutions, one per resolution, and
    // ResNet-50's stem, a bottleneck of its first stage and the strided 1x1 of its second.
    Shape("vgg19 3x3 64->64 224", n: 2, c: 64, size: 224, o: 64, k: 3, pad: 1),
    Shape("vgg19 3x3 128->128 112", n: 2, c: 128, size: 112, o: 128, k: 3, pad: 1),
    Shape("vgg19 3x3 256->256 56", n: 2, c: 256, size: 56, o: 256, k: 3, pad: 1),
    Shape("vgg19 3x3 512->512 28", n: 2, c: 512, size: 28, o: 512, k: 3, pad: 1),
    Shape("vgg19 3x3 512->512 14", n: 2, c: 512, size: 14, o: 512, k: 3, pad: 1),
    Shape("resnet50 stem 7x7 3->64 s2 224", n: 2, c: 3, size: 224, o: 64, k: 7, stride: 2, pad: 3),
    Shape("resnet50 1x1 256->64 56", n: 2, c: 256, size: 56, o: 64, k: 1),
    Shape("resnet50 3x3 64->64 56", n: 2, c: 64, size: 56, o: 64, k: 3, pad: 1),
    Shape("resnet50 1x1 64->256 56", n: 2, c: 64, size: 56, o: 256, k: 1),
    Shape("resnet50 1x1 256->512 s2 56", n: 2, c: 256, size: 56, o: 512, k: 1, stride: 2),
    Shape("resnet50 3x3 256->256 14", n: 2, c: 256, size: 14, o: 256, k: 3, pad: 1),
    // DenseNet-121's bottleneck 1x1 and growth 3x3 (32 outputs) in its first and third blocks.
    Shape("densenet121 1x1 256->128 56", n: 2, c: 256, size: 56, o: 128, k: 1),
    Shape("densenet121 3x3 128->32 56", n: 2, c: 128, size: 56, o: 32, k: 3, pad: 1),
    Shape("densenet121 3x3 128->32 14", n: 2, c: 128, size: 14, o: 32, k: 3, pad: 1),
  ]

  public struct Row: Sendable {
    public let shape: String, pass: String, threads: Int
    /// GFLOP/s: ours, oneDNN on NCHW, oneDNN on its own layouts with the reorders.
    public let ours: Double, plain: Double, blocked: Double
    public let plainImplementation: String, blockedImplementation: String
    /// Largest |oneDNN - ours| over the largest |ours| (plain, blocked).
    public let plainError: Double, blockedError: Double
    /// oneDNN's result has the same bits as with the first thread count measured (nil on that one).
    public let plainSameBits: Bool?, blockedSameBits: Bool?
    /// oneDNN's Winograd algorithm on its own layouts (3x3 of stride 1 where oneDNN has it, else
    /// nil): GFLOP/s of the direct convolution's multiply-adds, implementation, error.
    public let winograd: Double?, winogradImplementation: String?, winogradError: Double?
  }

  /// Times every shape whose name contains `filter` (all when empty) and pass at each of
  /// `threadCounts` (engine pool and oneDNN's OpenMP threads alike); `log` gets one line per row.
  /// One thread is timed in the thread's CPU time (robust to a loaded machine), more in wall time.
  public static func run(threadCounts: [Int], repeats: Int, filter: String = "", log: (String) -> Void) throws -> [Row] {
    // "ours" is the engine's own kernels, whatever ConvolutionKernels would pick.
    try ConvolutionKernels.withOneDNN(false) { try timeShapes(threadCounts: threadCounts, repeats: repeats, filter: filter, log: log) }
  }

  private static func timeShapes(threadCounts: [Int], repeats: Int, filter: String, log: (String) -> Void) throws -> [Row] {
    var rows: [Row] = []
    var firstResults: [String: [Float]] = [:]
    for shape in shapes where filter.isEmpty || shape.name.contains(filter) {
      var g = SeededGenerator(seed: 7)
      let x = Tensor.randomNormal(shape.inputShape, using: &g)
      let w = Tensor.randomNormal(shape.weightShape, using: &g)
      let dy = Tensor.randomNormal(shape.outputShape, using: &g)
      for pass in OneDNNConvolution.Pass.allCases {
        let (a, b, outShape) =
          switch pass {
          case .forward: (x, w, shape.outputShape)
          case .backwardData: (dy, w, shape.inputShape)
          case .backwardWeights: (x, dy, shape.weightShape)
          }
        let ours = { () -> Tensor in
          switch pass {
          case .forward: Tensor.conv2d(x, w, geometry: shape.geometry, groups: shape.groups)
          case .backwardData:
            Tensor.convInputGradient(dy, w, inputShape: shape.inputShape, geometry: shape.geometry, groups: shape.groups)
          case .backwardWeights:
            Tensor.convWeightGradient(x, dy, weightShape: shape.weightShape, geometry: shape.geometry, groups: shape.groups)
          }
        }
        for t in threadCounts {
          EngineThreads.set(t)
          let reference = ours().scalars
          let oursSeconds = KernelBenchmark.medianSeconds(repeats: repeats, threadCPUTime: t == 1) { _ = ours() }
          var result: [(seconds: Double, implementation: String, error: Double, same: Bool?)] = []
          for variant in ["plain", "blocked", "winograd"] {
            let winograd = variant == "winograd"
            let conv: OneDNNConvolution
            do {
              conv = try OneDNNConvolution(
                pass: pass, input: shape.inputShape, weight: shape.weightShape, output: shape.outputShape,
                geometry: shape.geometry, groups: shape.groups, blocked: variant != "plain", threads: t, winograd: winograd)
            } catch where winograd {
              break  // no Winograd kernel for this shape or CPU
            }
            var out = [Float](repeating: 0, count: outShape.reduce(1, *))
            let seconds = a.withUnsafeScalars { pa in
              b.withUnsafeScalars { pb in
                out.withUnsafeMutableBufferPointer { po in
                  KernelBenchmark.medianSeconds(repeats: repeats, threadCPUTime: t == 1) { conv.run(pa.baseAddress!, pb.baseAddress!, into: po.baseAddress!) }
                }
              }
            }
            let scale = reference.map(abs).max() ?? 1
            let error = zip(out, reference).map { abs($0 - $1) }.max()! / Swift.max(scale, .leastNormalMagnitude)
            let key = "\(shape.name)|\(pass)|\(variant)"
            var same: Bool?
            if let first = firstResults[key] { same = first == out } else { firstResults[key] = out }
            result.append((seconds, conv.implementation, Double(error), same))
          }
          let gf = { (s: Double) in shape.flops / s / 1e9 }
          let row = Row(
            shape: shape.name, pass: pass.rawValue, threads: t, ours: gf(oursSeconds), plain: gf(result[0].seconds),
            blocked: gf(result[1].seconds), plainImplementation: result[0].implementation,
            blockedImplementation: result[1].implementation, plainError: result[0].error, blockedError: result[1].error,
            plainSameBits: result[0].same, blockedSameBits: result[1].same,
            winograd: result.count > 2 ? gf(result[2].seconds) : nil, winogradImplementation: result.count > 2 ? result[2].implementation : nil,
            winogradError: result.count > 2 ? result[2].error : nil)
          rows.append(row)
          log(describe(row))
        }
      }
    }
    return rows
  }

  static func describe(_ r: Row) -> String {
    func bits(_ b: Bool?) -> String { b.map { $0 ? " same bits" : " bits differ" } ?? "" }
    return r.shape.padding(toLength: 28, withPad: " ", startingAt: 0) + " "
      + r.pass.padding(toLength: 16, withPad: " ", startingAt: 0)
      + String(
        format: " %dt  ours %6.1f  oneDNN nchw %6.1f (%.2fx)  blocked+reorders %6.1f (%.2fx)  GFLOP/s  [%@ | %@]  err %.1e/%.1e",
        r.threads, r.ours, r.plain, r.plain / r.ours, r.blocked, r.blocked / r.ours,
        r.plainImplementation, r.blockedImplementation, r.plainError, r.blockedError)
      + (r.threads > 1 ? " vs 1t: nchw\(bits(r.plainSameBits)), blocked\(bits(r.blockedSameBits))" : "")
      + (r.winograd.map { String(format: "  winograd %6.1f (%.2fx) [%@] err %.1e", $0, $0 / r.ours, r.winogradImplementation ?? "", r.winogradError ?? 0) } ?? "")
  }

  /// oneDNN's version and the instruction set its kernels dispatch to.
  public static var oneDNNDescription: String { "oneDNN \(OneDNNConvolution.version), ISA \(OneDNNConvolution.isa)" }
}
