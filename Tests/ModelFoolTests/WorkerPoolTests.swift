import Dispatch
import ModelFool
import Synchronization
import Testing

/// The engine's worker pool (`EngineThreads.forEachChunk`): every index of a job is run exactly
/// once, also when several threads submit jobs at once and when a chunk submits a job of its own.
@Suite struct WorkerPoolTests {
  /// Runs `forEachChunk` over `count` indices and returns how often each index was run.
  static func coverage(_ count: Int, nested: Int = 0) -> [Int] {
    let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
    hits.initialize(repeating: 0)
    defer { hits.deallocate() }
    EngineThreads.forEachChunk(count, work: 1 << 20) { range in
      for i in range {
        hits[i] += 1
        // A chunk that submits its own job (a kernel inside a kernel) must not wait on itself.
        if nested > 0 && i == range.lowerBound { #expect(coverage(nested) == [Int](repeating: 1, count: nested)) }
      }
    }
    return Array(hits)
  }

  @Test func everyIndexRunsOnceFromOneThread() {
    for count in [1, 2, 3, 7, 64, 1000] {
      #expect(Self.coverage(count) == [Int](repeating: 1, count: count), "\(count)")
    }
  }

  @Test func jobsFromSeveralThreadsAtOnceAndNestedJobs() {
    let failures = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 4) { t in
      for round in 0..<200 {
        let count = 1 + (round * 7 + t) % 50
        if Self.coverage(count, nested: round % 10 == 0 ? 5 : 0) != [Int](repeating: 1, count: count) {
          failures.wrappingAdd(1, ordering: .relaxed)
        }
      }
    }
    #expect(failures.load(ordering: .relaxed) == 0)
  }
}
