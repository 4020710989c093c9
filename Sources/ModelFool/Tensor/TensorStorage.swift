import Synchronization

/// A reference-counted, 64-byte-aligned buffer of Float32 values behind every ``Tensor``.
///
/// Tensors never mutate a storage that another tensor can see: kernels write only into storages
/// they have just allocated, and ``Tensor/withUnsafeMutableScalars(_:)`` copies first when the
/// storage is shared (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
  /// Number of Float32 elements.
  public let count: Int
  /// Start of the buffer; valid for `count` elements for the lifetime of the storage.
  public let pointer: UnsafeMutablePointer<Float>

  /// Keeps freed tensor buffers inside the process: glibc otherwise returns every large block
  /// to the kernel at once, and the next tensor of the same size pays a page fault per 4 KiB.
  private static let allocatorTuned: Bool = {
    _ = glibcMallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD (malloc.h); 32 MiB is glibc's maximum
    _ = glibcMallopt(-1, 1 << 30)  // M_TRIM_THRESHOLD
    return true
  }()

  private static let liveBytes = Atomic<Int>(0)
  private static let peakBytes = Atomic<Int>(0)

  /// Bytes held by tensor storages now, and the most held at once since the last
  /// ``resetPeakBytes()`` (what a step's tensors need, apart from the allocator's cached blocks
  /// and the large buffers kept for reuse (``LargeBufferCache``), which resident-memory figures
  /// include).
  public static var bytes: (live: Int, peak: Int) {
    (liveBytes.load(ordering: .relaxed), peakBytes.load(ordering: .relaxed))
  }

  /// Starts a new peak at the bytes held now.
  public static func resetPeakBytes() {
    peakBytes.store(liveBytes.load(ordering: .relaxed), ordering: .relaxed)
  }

  /// Allocates `count` uninitialised elements.
  public init(uninitializedCount count: Int) {
    _ = Self.allocatorTuned
    let now = Self.liveBytes.add(count * MemoryLayout<Float>.stride, ordering: .relaxed).newValue
    var peak = Self.peakBytes.load(ordering: .relaxed)
    while now > peak {
      let (exchanged, current) = Self.peakBytes.compareExchange(expected: peak, desired: now, ordering: .relaxed)
      if exchanged { break }
      peak = current
    }
    self.count = count
    let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
    let raw = LargeBufferCache.take(bytes) ?? UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
  }

  /// Allocates `count` elements set to `value`.
  public convenience init(count: Int, repeating value: Float) {
    self.init(uninitializedCount: count)
    pointer.initialize(repeating: value, count: count)
  }

  /// Copies `scalars` into a new storage.
  public convenience init(_ scalars: [Float]) {
    self.init(uninitializedCount: scalars.count)
    scalars.withUnsafeBufferPointer { src in
      if let base = src.baseAddress { pointer.initialize(from: base, count: src.count) }
    }
  }

  /// A new storage holding the same values.
  public func copy() -> TensorStorage {
    let other = TensorStorage(uninitializedCount: count)
    other.pointer.initialize(from: pointer, count: count)
    return other
  }

  deinit {
    Self.liveBytes.subtract(count * MemoryLayout<Float>.stride, ordering: .relaxed)
    LargeBufferCache.give(UnsafeMutableRawPointer(pointer), bytes: Swift.max(count, 1) * MemoryLayout<Float>.stride)
  }
}

/// glibc's `mallopt` (malloc.h does not import into Swift through Glibc).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
