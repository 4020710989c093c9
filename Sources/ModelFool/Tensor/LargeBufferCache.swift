import Foundation
import Synchronization

/// Tensor buffers of 32 MiB or more, kept after their tensor is freed for the next tensor of the
/// same size.
///
/// glibc maps every block of at least 32 MiB (its largest mmap threshold) on its own and unmaps it
/// when it is freed, so such a tensor made again paid a page fault per 4 KiB, each one the kernel
/// clearing a page: VGG-19's first dense layer's weight gradient (392 MiB) made 100,000 faults a
/// step, and in a virtual machine the clearing also waits on the host. A training step makes the
/// same sizes every step. The cache keeps the most recently freed buffers up to ``limit`` bytes
/// (the oldest are returned first); a buffer is reused only for a tensor of exactly its size.
enum LargeBufferCache {
  /// Buffers below this many bytes come from glibc's heap, which reuses them itself.
  static let minimumBytes = 32 << 20

  /// Bytes the cache holds at most: an eighth of the machine's memory, at most 4 GiB.
  static let limit: Int = Swift.min(Int(ProcessInfo.processInfo.physicalMemory / 8), 4 << 30)

  /// Freed buffers as (bytes, address), oldest first.
  private static let kept = Mutex<(buffers: [(bytes: Int, address: UInt)], bytes: Int)>(([], 0))

  /// A kept buffer of exactly `bytes` (the most recently freed one), or nil.
  static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
    guard bytes >= minimumBytes else { return nil }
    let address: UInt? = kept.withLock { state in
      guard let i = state.buffers.lastIndex(where: { $0.bytes == bytes }) else { return nil }
      state.bytes -= bytes
      return state.buffers.remove(at: i).address
    }
    return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
  }

  /// Keeps `buffer` (of `bytes`, from ``UnsafeMutableRawPointer/allocate(byteCount:alignment:)``)
  /// for a later tensor, returning the oldest kept buffers to the allocator past ``limit``; a
  /// buffer below ``minimumBytes`` or above the limit is returned at once.
  static func give(_ buffer: UnsafeMutableRawPointer, bytes: Int) {
    guard bytes >= minimumBytes, bytes <= limit else { return buffer.deallocate() }
    let released: [UInt] = kept.withLock { state in
      state.buffers.append((bytes, UInt(bitPattern: buffer)))
      state.bytes += bytes
      var oldest: [UInt] = []
      while state.bytes > limit {
        let first = state.buffers.removeFirst()
        state.bytes -= first.bytes
        oldest.append(first.address)
      }
      return oldest
    }
    for address in released { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
  }

  /// Bytes kept now.
  static var bytes: Int { kept.withLock { $0.bytes } }
}
