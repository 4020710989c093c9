import Foundation
import Synchronization

/// Which kernels run the engine's convolutions: im2col + OpenBLAS and the direct depthwise kernels
/// (Tensor+Convolution.swift, DepthwiseConvolution.swift), or oneDNN on its blocked layouts with
/// the reorders from and to NCHW in each call (OneDNNConvolution.swift).
///
/// The rule comes from `modelfool bench conv` (docs/RESULTS.md §11): at one thread oneDNN,
/// reorders included, ran forward and backward-data 1.3-1.75x faster on 3x3 convolutions with at
/// least 16 input channels and 1.3-5x faster on depthwise ones; it lost on 1->32 and 3->16
/// backward-data and on 1x1 convolutions. Backward-weights stays ours: oneDNN's splits its
/// reduction over the batch across its threads (other bits with another thread count), and its
/// gains there were 1.2-1.3x. Results do not depend on the thread count: oneDNN runs on one
/// OpenMP thread per call (no second thread team beside the engine's pool), the batch is cut into
/// calls of `max(1, n / 8)` images (a function of the batch only), and the pool runs the calls.
public enum ConvolutionKernels {
  private static let oneDNN = Atomic<Bool>(ProcessInfo.processInfo.environment["MODELFOOL_CONV_KERNELS"] != "own")

  /// Whether oneDNN runs the convolutions the rule gives it: yes unless `MODELFOOL_CONV_KERNELS=own`
  /// is set in the environment (for A/B runs) or this is set to false.
  public static var useOneDNN: Bool {
    get { oneDNN.load(ordering: .relaxed) }
    set { oneDNN.store(newValue, ordering: .relaxed) }
  }

  /// True where oneDNN won by measurement and its results do not depend on the thread count.
  static func prefersOneDNN(
    _ pass: OneDNNConvolution.Pass, channels c: Int, outputs o: Int, groups: Int, geometry: ConvGeometry
  ) -> Bool {
    guard pass != .backwardWeights else { return false }
    if isDepthwise(channels: c, outputs: o, groups: groups) { return true }
    return groups == 1 && c >= 16 && geometry.kh * geometry.kw > 1
  }

  /// Runs `pass` through oneDNN when the switch and the rule give it to oneDNN and a JIT kernel
  /// exists for it; returns false otherwise (the caller runs its own kernels). `a`, `out` are the
  /// batch's NCHW input and output (forward: `x`, `y`; backward-data: `dy`, `dx`), `b` the weight.
  static func run(
    _ pass: OneDNNConvolution.Pass, n: Int, c: Int, h: Int, w: Int, o: Int, oh: Int, ow: Int,
    weight: [Int], geometry: ConvGeometry, groups: Int,
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
  ) -> Bool {
    guard useOneDNN, prefersOneDNN(pass, channels: c, outputs: o, groups: groups, geometry: geometry) else { return false }
    let per = Swift.max(1, n / 8), calls = (n + per - 1) / per, rest = n - (calls - 1) * per
    func primitive(_ images: Int) -> OneDNNConvolution? {
      cached(Key(pass: pass, input: [images, c, h, w], weight: weight, output: [images, o, oh, ow], geometry: geometry, groups: groups))
    }
    guard let full = primitive(per), let last = rest == per ? full : primitive(rest) else { return false }
    let (inPlane, outPlane) = pass == .forward ? (c * h * w, o * oh * ow) : (o * oh * ow, c * h * w)
    imageJobs(calls, flops: n * o * oh * ow * (c / groups) * geometry.kh * geometry.kw) { jobs, _ in
      for j in jobs {
        (j == calls - 1 ? last : full).run(a + j * per * inPlane, b, into: out + j * per * outPlane)
      }
    }
    return true
  }

  /// oneDNN's implementation name for `pass` on these shapes when the engine runs it on oneDNN
  /// (for the batch's first call), else nil: our own kernels run it.
  public static func oneDNNImplementation(
    _ pass: OneDNNConvolution.Pass, input: [Int], weight: [Int], geometry: ConvGeometry, groups: Int = 1
  ) -> String? {
    let (n, c, h, w, o) = (input[0], input[1], input[2], input[3], weight[0])
    guard useOneDNN, prefersOneDNN(pass, channels: c, outputs: o, groups: groups, geometry: geometry),
      let (oh, ow) = geometry.outputSize(h: h, w: w)
    else { return nil }
    let per = Swift.max(1, n / 8)
    return cached(Key(pass: pass, input: [per, c, h, w], weight: weight, output: [per, o, oh, ow], geometry: geometry, groups: groups))?
      .implementation
  }

  struct Key: Hashable {
    let pass: OneDNNConvolution.Pass
    let input: [Int], weight: [Int], output: [Int]
    let geometry: ConvGeometry
    let groups: Int
  }

  /// Primitives by shape (`nil`: oneDNN has no JIT kernel for it, or refused it). Creating one
  /// compiles its kernel (milliseconds), so they are kept; the cache is emptied past 512 shapes.
  private static let primitives = Mutex<[Key: OneDNNConvolution?]>([:])

  static func cached(_ key: Key) -> OneDNNConvolution? {
    primitives.withLock { cache in
      if let hit = cache[key] { return hit }
      if cache.count >= 512 { cache.removeAll() }
      let made = try? OneDNNConvolution(
        pass: key.pass, input: key.input, weight: key.weight, output: key.output, geometry: key.geometry,
        groups: key.groups, blocked: true, threads: 1)
      // Only the JIT kernels were measured; reference and GEMM fallbacks are slower than ours.
      let chosen = made.flatMap { $0.implementation.hasPrefix("jit") || $0.implementation.hasPrefix("brg") ? $0 : nil }
      cache[key] = .some(chosen)
      return chosen
    }
  }
}
