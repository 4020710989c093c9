import CBLAS
import Dispatch
import Foundation
import Synchronization

/// Implementation note: the engine's own kernels (elementwise and broadcasting ops, reductions,
/// im2col/col2im, depthwise convolution, pooling, gather, optimiser updates) split their work into
/// contiguous chunks of *output* elements (images, channels, rows) and run the chunks on
/// libdispatch's worker threads, the calling thread taking part (`concurrentPerform`).
///
/// Determinism: every output element is computed by exactly one chunk, with the same arithmetic in
/// the same order as the serial loop (reductions are split over kept axes only, never along a
/// reduced one), so results do not depend on the thread count. Work below a size threshold stays on
/// the calling thread: dispatching costs a few microseconds.
///
/// OpenBLAS runs on one thread (set before the first GEMM and by ``EngineThreads/set(_:)``): its
/// own thread server spins in `sched_yield` between calls (16% of a 2-thread profile, more time
/// than the pool's kernels), and it would run wide while the pool does. The pool splits the
/// GEMM work instead: convolutions per image (forward, input gradient) and the weight gradient
/// per block of input channels (images in order). Each block stays above OpenBLAS's small-
/// matrix threshold, and OpenBLAS's blocked path computes an element of C the same way whatever
/// the M and N around it (it never splits K), so the split does not change results either.
public enum EngineThreads {
  private static let configured = Atomic<Int>(0)

  /// Logical cores available to this process.
  public static var available: Int { max(ProcessInfo.processInfo.activeProcessorCount, 1) }

  /// Threads the engine's kernels use (default: all cores).
  public static var count: Int {
    let n = configured.load(ordering: .relaxed)
    return n > 0 ? n : available
  }

  private static let blasPinned = Atomic<Bool>(false)

  /// Sets the thread count of the engine's kernels (at least 1); OpenBLAS stays on one thread.
  public static func set(_ count: Int) {
    let n = max(count, 1)
    configured.store(n, ordering: .relaxed)
    pinBLAS()
  }

  /// Puts OpenBLAS on one thread, once (called before every GEMM; a load after the first).
  @inline(__always)
  static func pinBLAS() {
    if blasPinned.load(ordering: .relaxed) { return }
    BLASRuntime.setThreads(1)
    blasPinned.store(true, ordering: .relaxed)
  }

  /// Calls `body` on contiguous chunks covering `0..<count`, on the engine's threads when `work`
  /// (a rough element count of the whole job) is large enough; each index is in exactly one chunk.
  /// For kernels outside this module (optimiser updates).
  public static func forEachChunk(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    parallelChunks(count, work: work, body)
  }
}

/// Elements below which a kernel stays on the calling thread.
let parallelThreshold = 1 << 15

/// Calls `body` on contiguous chunks covering `0..<count` (each index in exactly one chunk),
/// in parallel when `work` (a rough element count of the whole job) reaches `minimumWork` and
/// more than one thread is configured. At most ``EngineThreads/count`` chunks.
@inline(__always)
func parallelChunks(
  _ count: Int, work: Int, minimumWork: Int = parallelThreshold, _ body: (Range<Int>) -> Void
) {
  let threads = Swift.min(EngineThreads.count, count)
  if threads <= 1 || work < minimumWork {
    if count > 0 { body(0..<count) }
    return
  }
  withoutActuallyEscaping(body) { run in
    let box = ChunkBody(run)
    DispatchQueue.concurrentPerform(iterations: threads) { i in
      box.run((count * i / threads)..<(count * (i + 1) / threads))
    }
  }
}

/// Carries a non-Sendable chunk closure into `concurrentPerform`: chunks write disjoint outputs.
private final class ChunkBody: @unchecked Sendable {
  let run: (Range<Int>) -> Void
  init(_ run: @escaping (Range<Int>) -> Void) { self.run = run }
}
