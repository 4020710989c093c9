import Foundation
import Synchronization

/// Which kernels run the engine's convolutions: im2col + OpenBLAS and the direct depthwise kernels
/// (Tensor+Convolution.swift, DepthwiseConvolution.swift), oneDNN on its blocked layouts with
/// the reorders from and to NCHW in each call, or oneDNN's GEMM convolution on NCHW itself
/// (OneDNNConvolution.swift).
///
/// The rule comes from `modelfool bench conv` (docs/RESULTS.md §11 and the paper's networks'
/// section): at one thread oneDNN, reorders included, ran forward and backward-data 1.3-1.75x
/// faster on 3x3 convolutions with at least 16 input channels and 1.3-5x faster on depthwise ones,
/// and backward-weights of those dense convolutions 1.2-1.3x; it lost on 1->32 and 3->16
/// backward-data. On 1x1 convolutions of stride 1 its blocked kernels lost, but its GEMM
/// convolution on NCHW (`x64:gemm:jit`, no reorder) beat ours in every pass of the 1x1 shapes of
/// EfficientNet-Lite0 and ResNet-50 measured, 1.0-1.6x. On an AMD Zen 5 with AVX-512 its blocked
/// kernels also won forward and backward-weights on the strided stems of 3 input channels (ResNet's
/// 7x7 3.1x and 2.1x, EfficientNet's 3x3 7.6x and 4.1x; 1.5x and 1.2x on a Zen without AVX-512),
/// and on strided 1x1 convolutions its blocked forward (1.66x) and NCHW GEMM backward passes
/// (1.8-2.1x) won on AVX-512 while ours won on AVX2. Depthwise weight gradients stay ours. Results do not depend on the thread count: oneDNN runs on
/// one OpenMP thread per call (no second thread team beside the engine's pool), the batch is cut
/// into calls that depend on the batch only, and the pool runs the calls. Forward and
/// backward-data cut it into calls of `max(1, n / 8)` consecutive images; backward-weights into
/// the leaves of a ``SummationTree``, each call into its own partial gradient, the partials added
/// by the tree, so that a batch's weight gradient is the sum of its even and odd images' (what two
/// data-parallel ranks compute before their allreduce adds them). A leaf's weight gradient is cut
/// further by output channels (``weightGradientSlices(outputs:groups:)``, a function of the shape
/// only), so that a batch of one leaf still gives the pool two calls.
public enum ConvolutionKernels {
  private static let oneDNN = Atomic<Bool>(ProcessInfo.processInfo.environment["MODELFOOL_CONV_KERNELS"] != "own")

  /// Whether oneDNN runs the convolutions the rule gives it: yes unless `MODELFOOL_CONV_KERNELS=own`
  /// is set in the environment (for A/B runs), or inside ``withOneDNN(_:_:)``.
  public static var useOneDNN: Bool { scoped ?? oneDNN.load(ordering: .relaxed) }

  @TaskLocal private static var scoped: Bool?

  /// Runs `body` with oneDNN switched on or off for the calling task only (other tasks keep the
  /// process-wide switch): A/B comparisons inside one process, tests running in parallel included.
  public static func withOneDNN<R>(_ on: Bool, _ body: () throws -> R) rethrows -> R {
    try $scoped.withValue(on, operation: body)
  }

  /// The layouts oneDNN runs a convolution on: its blocked layouts with the direct algorithm or
  /// with Winograd's (F(4x4, 3x3), `jit_wino_4x3`), or NCHW (its GEMM convolution).
  enum Layout { case blocked, winograd, plain }

  /// The layout on which oneDNN won by measurement (nil: ours won); its results do not depend on
  /// the thread count either way.
  static func prefersOneDNN(
    _ pass: OneDNNConvolution.Pass, channels c: Int, outputs o: Int, groups: Int, geometry: ConvGeometry,
    outputPixels: Int
  ) -> Layout? {
    if isDepthwise(channels: c, outputs: o, groups: groups) { return pass != .backwardWeights ? .blocked : nil }
    guard groups == 1 else { return nil }
    if geometry.isPointwise { return .plain }
    let window = geometry.kh * geometry.kw
    if window == 1 {
      // Strided 1x1 (ResNet's downsampling): oneDNN won only where it runs on AVX-512.
      guard OneDNNConvolution.hasAVX512 else { return nil }
      return pass == .forward ? .blocked : .plain
    }
    if c >= 16 { return winogradWins(geometry, outputPixels: outputPixels) ? .winograd : .blocked }
    // Strided stems on few input channels (ResNet's 7x7, EfficientNet's 3x3 on RGB): the blocked
    // kernels won forward and backward-weights; their backward-data lost to ours.
    let strided = geometry.strideH > 1 || geometry.strideW > 1
    return c >= 3 && strided && pass != .backwardData ? .blocked : nil
  }

  /// Winograd's algorithm won every pass of the 3x3 convolutions of stride 1 with outputs of
  /// 56x56 pixels or more measured on AVX-512 (Zen 5: VGG-19's at 224, 112 and 56, ResNet-50's and
  /// DenseNet-121's at 56; 1.1-2.6x the direct blocked kernels, but 0.8x on 128 channels at 112
  /// backward-data) and lost on 28 and 14 (0.2-0.9x). Its transforms round more: up to 2.6e-6 of
  /// the largest output against 0.5e-6 for the direct kernels (`modelfool bench conv`).
  static func winogradWins(_ g: ConvGeometry, outputPixels: Int) -> Bool {
    OneDNNConvolution.hasAVX512 && g.kh == 3 && g.kw == 3 && g.strideH == 1 && g.strideW == 1
      && g.dilationH == 1 && g.dilationW == 1 && outputPixels >= 56 * 56
  }

  /// Images per oneDNN backward-weights call at most: a leaf of the ``SummationTree``. A constant,
  /// not a function of the batch: a rank's share of a batch must make the same calls as one
  /// process's. 4 keeps the calls as large as the forward pass's at batch 32.
  static let weightGradientLeaf = 4

  /// The output channels of each backward-weights call: halves from 32 channels on (each a
  /// multiple of 16, oneDNN's widest channel block; DenseNet's 3x3 convolutions have 32), else
  /// all. The output channels of one weight gradient element come from one slice, whose sums run
  /// over the same images and pixels as a call over all channels: the cut depends on the shape
  /// only, never on the thread count.
  static func weightGradientSlices(outputs o: Int, groups: Int) -> [Range<Int>] {
    guard groups == 1, o >= 32, o % 32 == 0 else { return [0..<o] }
    return [0..<(o / 2), (o / 2)..<o]
  }

  /// The images of the oneDNN calls of `pass` on a batch of `n`.
  static func calls(_ pass: OneDNNConvolution.Pass, images n: Int) -> [ImageSet] {
    if pass == .backwardWeights { return SummationTree(images: n, leaf: weightGradientLeaf).leaves }
    let per = Swift.max(1, n / 8)
    return stride(from: 0, to: n, by: per).map { ImageSet(first: $0, stride: 1, count: Swift.min(per, n - $0)) }
  }

  /// Runs `pass` through oneDNN when the switch and the rule give it to oneDNN and a JIT kernel
  /// exists for it; returns false otherwise (the caller runs its own kernels). `a`, `b`, `out` as in
  /// ``OneDNNConvolution/run(_:_:into:)``, for the whole batch: forward `(x, w) -> y`,
  /// backward-data `(dy, w) -> dx`, backward-weights `(x, dy) -> dw`.
  static func run(
    _ pass: OneDNNConvolution.Pass, n: Int, c: Int, h: Int, w: Int, o: Int, oh: Int, ow: Int,
    weight: [Int], geometry: ConvGeometry, groups: Int,
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
  ) -> Bool {
    guard useOneDNN, let layout = prefersOneDNN(pass, channels: c, outputs: o, groups: groups, geometry: geometry, outputPixels: oh * ow)
    else { return false }
    let tree = pass == .backwardWeights ? SummationTree(images: n, leaf: weightGradientLeaf) : nil
    let sets = tree?.leaves ?? calls(pass, images: n)
    let slices = tree == nil ? [0..<o] : weightGradientSlices(outputs: o, groups: groups)
    let sliced = slices[0].count
    let staging = stages(pass, layout)
    var primitives: [ImageSet.Shape: OneDNNConvolution] = [:]
    for shape in Set(sets.map(\.shape)) {
      guard let p = primitive(Key(
        pass, images: shape, input: [c, h, w], weight: weight, output: [sliced, oh, ow], channels: o,
        geometry: geometry, groups: groups, layout: layout))
      else { return false }
      primitives[shape] = p
    }
    let (xPlane, yPlane) = (c * h * w, o * oh * ow)
    let flops = n * o * oh * ow * (c / groups) * geometry.kh * geometry.kw
    guard let tree else {
      let (inPlane, outPlane) = pass == .forward ? (xPlane, yPlane) : (yPlane, xPlane)
      // The weights reordered once per call shape, not once per call.
      let weights = sets.count > 1 ? primitives.mapValues { $0.prepareWeights(b) } : [:]
      imageJobs(sets.count, flops: flops) { jobs, _ in
        for s in sets[jobs] {
          primitives[s.shape]!.run(a + s.first * inPlane, b, into: out + s.first * outPlane, weights: weights[s.shape] ?? nil)
        }
      }
      return true
    }
    // Leaf 0 writes into `out`, the others into partials of their own; the tree adds them into `out`.
    let size = weight.reduce(1, *)
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: (sets.count - 1) * size)
    defer { partials.deallocate() }
    func partial(_ leaf: Int) -> UnsafeMutablePointer<Float> { leaf == 0 ? out : partials + (leaf - 1) * size }
    let (slicePlane, sliceWeights) = (oh * ow, size / o)
    imageJobs(sets.count * slices.count, flops: flops) { jobs, _ in
      for j in jobs {
        let (s, slice) = (sets[j / slices.count], slices[j % slices.count])
        let (x, dy) = (a + s.first * xPlane, b + s.first * yPlane + slice.lowerBound * slicePlane)
        let into = partial(j / slices.count) + slice.lowerBound * sliceWeights
        guard staging, s.stride != 1 || sliced != o else {
          primitives[s.shape]!.run(x, dy, into: into)
          continue
        }
        let packedX = s.stride == 1 ? nil : staged(x, planes: s.count, every: s.stride * xPlane, size: xPlane)
        let packedY = staged(dy, planes: s.count, every: s.stride * yPlane, size: sliced * slicePlane)
        defer { packedX?.deallocate(); packedY.deallocate() }
        primitives[s.shape]!.run(packedX.map { UnsafePointer($0) } ?? x, packedY, into: into)
      }
    }
    tree.add(size: size, partial)
    return true
  }

  /// Whether the calls of `pass` on `layout` read staged copies of their inputs: the NCHW GEMM
  /// kernels read packed buffers only, and given a weight gradient's images every `stride` or a
  /// slice of its output channels, oneDNN first copies them value by value (4.6% of a
  /// DenseNet-121 batch-8 step in a profile); ``staged(_:planes:every:size:)`` copies them a plane
  /// at a time instead.
  static func stages(_ pass: OneDNNConvolution.Pass, _ layout: Layout) -> Bool {
    pass == .backwardWeights && layout == .plain
  }

  /// `planes` runs of `size` values, `every` values apart from `p` on, copied one after another
  /// into a new buffer (the caller deallocates it).
  static func staged(_ p: UnsafePointer<Float>, planes: Int, every: Int, size: Int) -> UnsafeMutablePointer<Float> {
    let out = UnsafeMutablePointer<Float>.allocate(capacity: planes * size)
    for i in 0..<planes { (out + i * size).update(from: p + i * every, count: size) }
    return out
  }

  /// oneDNN's implementation name for `pass` on these shapes when the engine runs it on oneDNN
  /// (for the batch's first call), else nil: our own kernels run it.
  public static func oneDNNImplementation(
    _ pass: OneDNNConvolution.Pass, input: [Int], weight: [Int], geometry: ConvGeometry, groups: Int = 1
  ) -> String? {
    let (n, c, h, w, o) = (input[0], input[1], input[2], input[3], weight[0])
    guard useOneDNN, let (oh, ow) = geometry.outputSize(h: h, w: w),
      let layout = prefersOneDNN(pass, channels: c, outputs: o, groups: groups, geometry: geometry, outputPixels: oh * ow)
    else { return nil }
    let first = calls(pass, images: n)[0].shape
    let sliced = pass == .backwardWeights ? weightGradientSlices(outputs: o, groups: groups)[0].count : o
    return primitive(Key(
      pass, images: first, input: [c, h, w], weight: weight, output: [sliced, oh, ow], channels: o,
      geometry: geometry, groups: groups, layout: layout))?.implementation
  }

  struct Key: Hashable {
    let pass: OneDNNConvolution.Pass
    let input: [Int], weight: [Int], output: [Int]
    let geometry: ConvGeometry
    let groups: Int
    /// Images of a call lie this many images apart in the batch.
    let imageStride: Int
    /// Output channels of an image in the batch (more than the call's when it takes a slice).
    let outputChannels: Int
    let layout: Layout
  }

  /// Primitives by shape (`nil`: oneDNN has no JIT kernel for it, or refused it). Creating one
  /// compiles its kernel (milliseconds), so they are kept; the cache is emptied past 512 shapes.
  private static let primitives = Mutex<[Key: OneDNNConvolution?]>([:])

  /// The primitive for `key`; a Winograd key for a shape that oneDNN has no Winograd kernel for
  /// falls back to the direct blocked kernels.
  static func primitive(_ key: Key) -> OneDNNConvolution? {
    if let p = cached(key) { return p }
    guard key.layout == .winograd else { return nil }
    return cached(Key(
      pass: key.pass, input: key.input, weight: key.weight, output: key.output, geometry: key.geometry,
      groups: key.groups, imageStride: key.imageStride, outputChannels: key.outputChannels, layout: .blocked))
  }

  static func cached(_ key: Key) -> OneDNNConvolution? {
    primitives.withLock { cache in
      if let hit = cache[key] { return hit }
      if cache.count >= 512 { cache.removeAll() }
      let made = try? OneDNNConvolution(
        pass: key.pass, input: key.input, weight: key.weight, output: key.output, geometry: key.geometry,
        groups: key.groups, blocked: key.layout != .plain, threads: 1, imageStride: key.imageStride,
        outputChannels: key.outputChannels, winograd: key.layout == .winograd)
      // Only the kernels measured: JIT kernels on the blocked layouts, Winograd's JIT kernels, the
      // JIT GEMM on NCHW; reference fallbacks are slower than ours.
      let measured: (String) -> Bool = { name in
        switch key.layout {
        case .blocked: name.hasPrefix("jit") || name.hasPrefix("brg")
        case .winograd: name.hasPrefix("jit_wino")
        case .plain: name.hasSuffix("gemm:jit")
        }
      }
      let chosen = made.flatMap { measured($0.implementation) ? $0 : nil }
      cache[key] = .some(chosen)
      return chosen
    }
  }
}

/// `count` images of a batch, `stride` images apart from image `first` on: one oneDNN call.
struct ImageSet {
  let first: Int, stride: Int, count: Int

  /// What the call's primitive depends on.
  struct Shape: Hashable { let count: Int, stride: Int }
  var shape: Shape { Shape(count: count, stride: stride) }
}

/// The order in which a weight gradient adds up its batch: a set of at most `leaf` images is one
/// call (a leaf, summed inside oneDNN); a larger set is the sum of its even-numbered and its
/// odd-numbered images' sums. Data-parallel ranks take a batch's rows strided
/// (`Communicator.shard`: rank `r` of 2 gets rows `r, r + 2, ...`), so for a batch of more than
/// `leaf` images one process's sum is, bit for bit, the sum of the two ranks' (each the same tree
/// over the same rows in the same order) that their allreduce computes. With power-of-two rows per
/// rank the loss means' and the ranks' weighting factors are exact too, and a weight that the loss
/// reaches once gets one process's gradient; where two terms reach it (a convolution that an
/// explanation's inner gradient passes through), each process adds its two sums.
struct SummationTree {
  /// The leaves, in the order the tree visits them.
  private(set) var leaves: [ImageSet] = []
  /// Leaf `into`'s partial += leaf `from`'s, in this order; the whole sum ends in leaf 0's.
  private(set) var additions: [(into: Int, from: Int)] = []

  init(images n: Int, leaf: Int) {
    precondition(n > 0 && leaf > 0, "SummationTree: needs images and a leaf size")
    _ = grow(ImageSet(first: 0, stride: 1, count: n), leaf: leaf)
  }

  /// Adds the subtree of `set`; returns the leaf its sum ends in.
  private mutating func grow(_ set: ImageSet, leaf: Int) -> Int {
    if set.count <= leaf {
      leaves.append(set)
      return leaves.count - 1
    }
    let step = 2 * set.stride
    let even = grow(ImageSet(first: set.first, stride: step, count: (set.count + 1) / 2), leaf: leaf)
    let odd = grow(ImageSet(first: set.first + set.stride, stride: step, count: set.count / 2), leaf: leaf)
    additions.append((even, odd))
    return even
  }

  /// Runs the additions on the `size` elements of each leaf's buffer `partial(leaf)`, split over
  /// the pool by elements (every element gets the same additions in the same order).
  func add(size: Int, _ partial: (Int) -> UnsafeMutablePointer<Float>) {
    parallelChunks(size, work: size * additions.count) { part in
      for (into, from) in additions {
        let d = partial(into), s = partial(from)
        for e in part { d[e] += s[e] }
      }
    }
  }
}

extension ConvolutionKernels.Key {
  /// The key of a call of `pass` on the images `images` of a batch: `input` `[c, h, w]`, the
  /// whole `weight`, the call's `output` `[o, oh, ow]` (a slice of the batch's `channels` for a
  /// weight gradient); where the call reads staged copies, their packed layout.
  init(
    _ pass: OneDNNConvolution.Pass, images: ImageSet.Shape, input: [Int], weight: [Int], output: [Int], channels: Int,
    geometry: ConvGeometry, groups: Int, layout: ConvolutionKernels.Layout
  ) {
    let staged = ConvolutionKernels.stages(pass, layout)
    self.init(
      pass: pass, input: [images.count] + input, weight: [output[0]] + weight.dropFirst(), output: [images.count] + output,
      geometry: geometry, groups: groups, imageStride: staged ? 1 : images.stride, outputChannels: staged ? output[0] : channels,
      layout: layout)
  }
}
