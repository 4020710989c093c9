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
/// OpenBLAS: it owns its own threads. The two never run wide at once: `cblas_sgemm` is called
/// outside parallel regions with `EngineThreads.count` OpenBLAS threads, and the convolution's
/// per-image loop, which calls sgemm from inside a parallel region, first sets OpenBLAS to one
/// thread (``EngineThreads/withSingleThreadedBLAS(_:)``). OpenBLAS computes each element of C
/// in one thread whatever its thread count (it splits M and N, never K), so that choice does not
/// change results either.
public enum EngineThreads {
  private static let configured = Atomic<Int>(0)

  /// Logical cores available to this process.
  public static var available: Int { max(ProcessInfo.processInfo.activeProcessorCount, 1) }

  /// Threads the engine's kernels use (default: all cores).
  public static var count: Int {
    let n = configured.load(ordering: .relaxed)
    return n > 0 ? n : available
  }

  /// Sets the thread count of the engine's kernels and of OpenBLAS (at least 1).
  public static func set(_ count: Int) {
    let n = max(count, 1)
    configured.store(n, ordering: .relaxed)
    BLASRuntime.setThreads(n)
  }

  /// Calls `body` on contiguous chunks covering `0..<count`, on the engine's threads when `work`
  /// (a rough element count of the whole job) is large enough; each index is in exactly one chunk.
  /// For kernels outside this module (optimiser updates).
  public static func forEachChunk(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
    parallelChunks(count, work: work, body)
  }

  /// Runs `body` with OpenBLAS on one thread, for sgemm calls made from inside a parallel region
  /// (restored to ``count`` afterwards).
  static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
    let wide = BLASRuntime.threads
    if wide <= 1 { return try body() }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(wide)) }
    return try body()
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
