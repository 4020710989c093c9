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

  /// Allocates `count` uninitialised elements.
  public init(uninitializedCount count: Int) {
    self.count = count
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
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

  deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
