import Foundation
import ModelFool

/// Where fine-tuning and evaluation take their mini-batches from: an in-memory ``Dataset`` (the
/// small special case, gathered on demand) or a stream decoded from files on background threads
/// (``ImageFolderSource``), whatever its size.
///
/// The consumer chooses the order: it cuts example indices into batches
/// (``batchIndices(size:shuffle:dropLast:using:)``, the same rule and generator draws for every
/// source) and asks for a ``BatchStream`` over them.
public protocol BatchSource: Sendable {
  /// Data set name for reports.
  var name: String { get }
  /// Number of examples.
  var count: Int { get }
  /// Class names, indexed by label.
  var classNames: [String] { get }
  /// Example indices cut into batches of `size`, shuffled with `g` when `shuffle` is true.
  func batchIndices(size: Int, shuffle: Bool, dropLast: Bool, using g: inout SeededGenerator) -> [[Int]]
  /// The batches `indexBatches`, in that order. `skipped` hears (on the consumer's thread, from
  /// ``BatchStream/next()``) one line per example that could not be read and was left out.
  func stream(_ indexBatches: [[Int]], skipped: @escaping @Sendable (String) -> Void) -> BatchStream
  /// The examples at `indices` gathered into one in-memory data set (unreadable ones left out
  /// and told to `skipped`).
  func load(_ indices: [Int], skipped: @escaping @Sendable (String) -> Void) throws -> Dataset
}

extension BatchSource {
  /// `count` indices spread evenly over the source (all of them when `count` is at least the size),
  /// the rule of ``Dataset/evenlySpacedSubset(_:)``.
  public func evenlySpacedIndices(_ count: Int) -> [Int] {
    guard count > 0, count < self.count else { return Array(0..<self.count) }
    return (0..<count).map { $0 * self.count / count }
  }
}

extension Dataset: BatchSource {
  public func stream(_ indexBatches: [[Int]], skipped: @escaping @Sendable (String) -> Void) -> BatchStream {
    var iterator = BatchSequence(dataset: self, indexBatches: indexBatches).makeIterator()
    return BatchStream { iterator.next() }
  }

  public func load(_ indices: [Int], skipped: @escaping @Sendable (String) -> Void) throws -> Dataset { subset(indices) }
}

/// One pass over chosen batches of a ``BatchSource``: ``next()`` until nil. Streams decoding in
/// the background stop their threads when the stream is released.
public final class BatchStream {
  private let produce: () throws -> Batch?
  private let stop: () -> Void

  /// A stream whose batches come from `produce`; `stop` ends its background work early.
  public init(stop: @escaping () -> Void = {}, _ produce: @escaping () throws -> Batch?) {
    self.produce = produce
    self.stop = stop
  }

  deinit { stop() }

  /// The next batch, nil after the last: one per index batch, in order. A batch holds fewer
  /// examples than asked for when some could not be read (none when all failed).
  public func next() throws -> Batch? { try produce() }
}

/// Decodes batches of files on background threads, at most `prefetch` batches ahead of the
/// consumer, each batch's examples spread over `threads` decoding threads.
///
/// Memory: the batches waiting (`prefetch`), the one being built and the one consumed (each
/// `batch x example` floats), plus one decoded image per decoding thread.
final class PrefetchingDecoder: @unchecked Sendable {
  /// Fills `destination` (one example's floats) from the file of example `index`.
  typealias Decode = @Sendable (_ index: Int, _ destination: UnsafeMutablePointer<Float>) throws -> Void

  private let condition = NSCondition()
  private var ready: [Int: Result<(Batch, [String]), Error>] = [:]
  private var consumed = 0
  private var cancelled = false
  private let indexBatches: [[Int]]
  private let exampleShape: [Int]
  private let label: @Sendable (Int) -> Int
  private let decode: Decode
  private let prefetch: Int
  private let threads: Int

  init(
    indexBatches: [[Int]], exampleShape: [Int], prefetch: Int, threads: Int, label: @escaping @Sendable (Int) -> Int,
    decode: @escaping Decode
  ) {
    self.indexBatches = indexBatches
    self.exampleShape = exampleShape
    self.prefetch = max(prefetch, 1)
    self.threads = max(threads, 1)
    self.label = label
    self.decode = decode
  }

  /// Starts the background thread.
  func start() {
    let thread = Thread { [self] in produceAll() }
    thread.name = "modelfool-prefetch"
    thread.start()
  }

  /// Stops producing: the background thread ends after the batch it is building.
  func cancel() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    condition.unlock()
  }

  /// The next batch in order (waiting for it), with the lines of the files it left out.
  func next() throws -> (Batch, [String])? {
    condition.lock()
    guard consumed < indexBatches.count else { condition.unlock(); return nil }
    while ready[consumed] == nil { condition.wait() }
    let result = ready.removeValue(forKey: consumed)!
    consumed += 1
    condition.broadcast()
    condition.unlock()
    return try result.get()
  }

  private func produceAll() {
    for k in indexBatches.indices {
      condition.lock()
      while k - consumed >= prefetch && !cancelled { condition.wait() }
      let stop = cancelled
      condition.unlock()
      if stop { return }
      let result = Result { try build(indexBatches[k]) }
      condition.lock()
      ready[k] = result
      condition.broadcast()
      condition.unlock()
    }
  }

  /// Decodes one batch: example `i` of the batch into slot `i`, then the unreadable ones removed.
  private func build(_ indices: [Int]) throws -> (Batch, [String]) {
    let size = exampleShape.reduce(1, *)
    let storage = TensorStorage(uninitializedCount: indices.count * size)
    let failures = FailureList()
    let workers = min(threads, indices.count)
    nonisolated(unsafe) let base = storage.pointer
    let decode = self.decode
    DispatchQueue.concurrentPerform(iterations: workers) { w in
      for i in stride(from: w, to: indices.count, by: workers) {
        do { try decode(indices[i], base + i * size) } catch { failures.add(i, "\(error)") }
      }
    }
    let failed = failures.sorted()
    let kept = indices.indices.filter { i in !failed.contains { $0.slot == i } }
    let labels = kept.map { label(indices[$0]) }
    let messages = failed.map(\.message)
    guard kept.count < indices.count else {
      return (Batch(indices: indices, inputs: Tensor(shape: [indices.count] + exampleShape, storage: storage), labels: labels), messages)
    }
    let compact = TensorStorage(uninitializedCount: kept.count * size)
    for (j, i) in kept.enumerated() { (compact.pointer + j * size).update(from: base + i * size, count: size) }
    let inputs = Tensor(shape: [kept.count] + exampleShape, storage: compact)
    return (Batch(indices: kept.map { indices[$0] }, inputs: inputs, labels: labels), messages)
  }
}

/// Failures of one batch's decoding threads.
private final class FailureList: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [(slot: Int, message: String)] = []
  func add(_ slot: Int, _ message: String) {
    lock.lock()
    items.append((slot, message))
    lock.unlock()
  }
  func sorted() -> [(slot: Int, message: String)] {
    lock.lock()
    defer { lock.unlock() }
    return items.sorted { $0.slot < $1.slot }
  }
}
