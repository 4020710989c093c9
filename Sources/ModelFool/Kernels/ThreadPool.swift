import CBLAS
import Dispatch
import Foundation
import Synchronization

/// Implementation note: the engine's own kernels (elementwise and broadcasting ops, reductions,
/// im2col/col2im, depthwise convolution, pooling, gather, optimiser updates) split their work into
/// contiguous chunks of *output* elements (images, channels, rows) and run the chunks on the
/// engine's worker threads (``WorkerPool``), the calling thread taking part.
///
/// Determinism: every output element is computed by exactly one chunk, with the same arithmetic in
/// the same order as the serial loop (reductions are split over kept axes only, never along a
/// reduced one), so results do not depend on the thread count. Work below a size threshold stays on
/// the calling thread: dispatching costs a few microseconds.
///
/// OpenBLAS runs on one thread (set before the first GEMM and by ``EngineThreads/set(_:)``): its
/// own thread server spins in `sched_yield` between calls (16% of a 2-thread profile, more time
/// than the pool's kernels), and it would run wide while the pool does. The pool splits the
/// GEMM work instead: convolutions per image (forward, input gradient), the weight gradient per
/// block of input channels (images in order) and large matrix products per block of the output
/// (``splitGEMM``). OpenBLAS's bits for an element of C depend on the M and N of the call around
/// it (measured: 4-10% of the elements differ between one call and the same product in blocks),
/// so these blocks are fixed by the shape, never by the thread count.
public enum EngineThreads {
  private static let configured = Atomic<Int>(0)

  /// Logical cores available to this process: all of them, shared out among the ranks an Open MPI
  /// job starts on this machine (`OMPI_COMM_WORLD_LOCAL_SIZE`), so that ranks do not oversubscribe
  /// the cores (the pool's workers spin between kernels).
  public static let available: Int = {
    let cores = max(ProcessInfo.processInfo.activeProcessorCount, 1)
    let ranks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1
    return max(cores / max(ranks, 1), 1)
  }()

  /// Threads the engine's kernels use (default: all cores).
  public static var count: Int {
    if let scoped { return scoped }
    let n = configured.load(ordering: .relaxed)
    return n > 0 ? n : available
  }

  @TaskLocal private static var scoped: Int?

  /// Runs `body` with the kernels it calls on `count` threads (at least 1, as ``set(_:)``), for
  /// the calling task only: other tasks keep the process-wide count.
  public static func withCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
    pinBLAS()
    return try $scoped.withValue(Swift.max(count, 1), operation: body)
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
    WorkerPool.shared.run(chunks: threads) { i in run((count * i / threads)..<(count * (i + 1) / threads)) }
  }
}

/// The engine's worker threads: `available - 1` threads that, after a job, spin for a short while
/// on the next job's generation before they sleep, so the back-to-back small kernels of a training
/// step do not each pay a thread wake-up (libdispatch's `concurrentPerform` woke its workers per
/// call: 400-700 context switches per EfficientNet-Lite0 step on 2 threads). The calling thread
/// takes chunks too; chunks are claimed from an atomic counter, so which thread runs a chunk never
/// changes what the chunk computes.
final class WorkerPool: @unchecked Sendable {
  static let shared = WorkerPool(workers: max(EngineThreads.available - 1, 0))

  /// One call of ``run(chunks:_:)``: its chunks, the next unclaimed one and how many are done.
  private final class Job: @unchecked Sendable {
    var body: ((Int) -> Void)?
    let chunks: Int
    /// Workers with an index below this take part (the rest of the pool keeps sleeping).
    let helpers: Int
    let next = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    init(body: @escaping (Int) -> Void, chunks: Int, helpers: Int) {
      (self.body, self.chunks, self.helpers) = (body, chunks, helpers)
    }

    /// Runs unclaimed chunks until none is left.
    func work() {
      while true {
        let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
        guard i < chunks else { return }
        body!(i)
        done.wrappingAdd(1, ordering: .releasing)
      }
    }
  }

  private let generation = Atomic<Int>(0)
  private let current = Mutex<Job?>(nil)
  private let sleepers = Atomic<Int>(0)
  private let wake = DispatchSemaphore(value: 0)
  /// Spins of an idle worker (each one atomic load) before it sleeps: some tens of microseconds.
  private static let spinLimit = 20_000

  private init(workers: Int) {
    for w in 0..<workers {
      let thread = Thread { [unowned self] in self.workerLoop(index: w) }
      thread.name = "modelfool-worker-\(w)"
      thread.start()
    }
  }

  /// Calls `body(i)` once for every `i` in `0..<chunks`, on the calling thread and up to
  /// `chunks - 1` workers, and returns when all calls have returned.
  func run(chunks: Int, _ body: (Int) -> Void) {
    withoutActuallyEscaping(body) { body in
      let job = Job(body: body, chunks: chunks, helpers: chunks - 1)
      current.withLock { $0 = job }
      generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
      let asleep = sleepers.load(ordering: .sequentiallyConsistent)
      for _ in 0..<min(asleep, chunks - 1) { wake.signal() }
      job.work()
      // A worker still runs a claimed chunk: spin, and on a crowded machine (more runnable threads
      // than cores) give the core up so that the worker gets it.
      var spins = 0
      while job.done.load(ordering: .acquiring) < chunks {
        spins += 1
        if spins >= Self.spinLimit { sched_yield() }
      }
      // Every claimed chunk has returned: no thread reads `body` any more.
      job.body = nil
      current.withLock { $0 = nil }
    }
  }

  private func workerLoop(index: Int) {
    var seen = 0
    while true {
      // Only the workers the thread count uses spin; the others sleep until woken.
      var spins = index < EngineThreads.count - 1 ? 0 : Self.spinLimit
      while generation.load(ordering: .acquiring) == seen {
        spins += 1
        if spins < Self.spinLimit { continue }
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if generation.load(ordering: .sequentiallyConsistent) == seen { wake.wait() }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        spins = index < EngineThreads.count - 1 ? 0 : Self.spinLimit
      }
      seen = generation.load(ordering: .acquiring)
      guard let job = current.withLock({ $0 }), index < job.helpers else { continue }
      job.work()
    }
  }
}
