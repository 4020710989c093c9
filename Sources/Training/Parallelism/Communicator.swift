import Foundation

/// The processes of a data-parallel job, as the training loops see them: what an MPI
/// communicator offers, without the library depending on MPI (the `ModelFoolDistributed` target
/// implements it on Open MPI; ``SingleProcess`` is the one-rank no-op).
///
/// Every rank runs the same loop on its shard of each global batch; calls are collective: every
/// rank makes the same calls in the same order, and the results are the same on every rank.
public protocol Communicator: AnyObject, Sendable {
  /// This process's rank, `0..<size`; rank 0 prints and writes.
  var rank: Int { get }
  /// Number of processes.
  var size: Int { get }
  /// Replaces `values` on every rank by their element-wise sum over the ranks.
  func allreduceSum(_ values: inout [Float]) throws
  /// Starts replacing `values` by their element-wise sum over the ranks and returns at once
  /// (every rank starts the same reductions in the same order). The sums are there when
  /// ``waitForReductions()`` returns; until then `values` must stay allocated and untouched.
  func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
  /// Lets the started reductions advance without waiting (called between pieces of work).
  func advanceReductions() throws
  /// Waits until every started reduction is complete.
  func waitForReductions() throws
  /// The largest bucket of gradients one reduction carries, in bytes (``DataParallel``).
  var bucketBytes: Int { get }
  /// Every rank's `bytes`, in rank order, on every rank.
  func allgather(_ bytes: [UInt8]) throws -> [[UInt8]]
  /// Waits until every rank has called it.
  func barrier() throws
}

/// One process: nothing to exchange.
public final class SingleProcess: Communicator {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func allreduceSum(_ values: inout [Float]) throws {}
  public func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
  public func advanceReductions() throws {}
  public func waitForReductions() throws {}
  public var bucketBytes: Int { Self.defaultBucketBytes }
  public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
  public func barrier() throws {}
}

extension Communicator {
  /// The default ``bucketBytes``: 25 MiB (as PyTorch's DistributedDataParallel).
  public static var defaultBucketBytes: Int { 25 << 20 }

  /// This rank's share of one global batch: rows `rank, rank + size, ...` (strided, so that the
  /// shards differ in size by at most one and every rank's shard of a batch is non-empty when the
  /// batch has at least `size` rows).
  public func shard<T>(_ rows: [T]) -> [T] {
    guard size > 1 else { return rows }
    return Swift.stride(from: rank, to: rows.count, by: size).map { rows[$0] }
  }

  /// Gathers a `Codable` value of every rank, in rank order.
  public func allgather<T: Codable>(_ value: T) throws -> [T] {
    guard size > 1 else { return [value] }
    // Floats travel as their shortest round-tripping text, NaN and infinities by name.
    let encoder = JSONEncoder(), decoder = JSONDecoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let bytes = try allgather([UInt8](encoder.encode(value)))
    return try bytes.map { try decoder.decode(T.self, from: Data($0)) }
  }
}
