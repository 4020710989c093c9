import CMPI
import Foundation
import ModelFoolTraining

/// ``Communicator`` on Open MPI's `MPI_COMM_WORLD`. Started only when the process was launched by
/// `mpirun` (``Job/start()``), so that a single process needs no MPI runtime.
public final class MPICommunicator: Communicator, @unchecked Sendable {
  public let rank: Int
  public let size: Int
  /// The largest gradient bucket of one reduction (``Communicator/bucketBytes``).
  public let bucketBytes: Int
  private let lock = NSLock()
  private var reduceSeconds = 0.0
  private var reduceBytes = 0
  private var reduceCalls = 0
  /// Reductions started and not yet waited for (only the loop's thread starts and waits).
  private var pending: [MPI_Request?] = []

  /// Initialises MPI (threads funneled: only the loop's thread calls MPI).
  init(bucketBytes: Int) throws {
    self.bucketBytes = bucketBytes
    var provided: Int32 = 0
    try Self.check(MPI_Init_thread(nil, nil, mf_mpi_thread_funneled(), &provided), "MPI_Init_thread")
    var r: Int32 = 0, s: Int32 = 0
    try Self.check(MPI_Comm_rank(mf_mpi_comm_world(), &r), "MPI_Comm_rank")
    try Self.check(MPI_Comm_size(mf_mpi_comm_world(), &s), "MPI_Comm_size")
    rank = Int(r)
    size = Int(s)
  }

  static func check(_ code: Int32, _ call: String) throws {
    guard code == mf_mpi_success() else { throw DistributedError("\(call) failed with MPI error \(code)") }
  }

  public func allreduceSum(_ values: inout [Float]) throws {
    try values.withUnsafeMutableBufferPointer { buffer in
      try counted(bytes: buffer.count * MemoryLayout<Float>.size, calls: 1) {
        try Self.chunks(buffer) { base, n in
          try Self.check(MPI_Allreduce(mf_mpi_in_place(), base, n, mf_mpi_float(), mf_mpi_sum(), mf_mpi_comm_world()), "MPI_Allreduce")
        }
      }
    }
  }

  public func startAllreduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
    try counted(bytes: values.count * MemoryLayout<Float>.size, calls: 1) {
      try Self.chunks(values) { base, n in
        var request: MPI_Request?
        try Self.check(
          MPI_Iallreduce(mf_mpi_in_place(), base, n, mf_mpi_float(), mf_mpi_sum(), mf_mpi_comm_world(), &request), "MPI_Iallreduce")
        pending.append(request)
      }
    }
  }

  public func advanceReductions() throws {
    guard !pending.isEmpty else { return }
    try counted(bytes: 0, calls: 0) {
      var done: Int32 = 0
      try Self.check(MPI_Testall(Int32(pending.count), &pending, &done, mf_mpi_statuses_ignore()), "MPI_Testall")
    }
  }

  public func waitForReductions() throws {
    guard !pending.isEmpty else { return }
    try counted(bytes: 0, calls: 0) {
      defer { pending.removeAll() }
      try Self.check(MPI_Waitall(Int32(pending.count), &pending, mf_mpi_statuses_ignore()), "MPI_Waitall")
    }
  }

  /// Calls `body` on pieces of `buffer` of at most 2^31 - 1 elements (MPI counts are C ints).
  private static func chunks(_ buffer: UnsafeMutableBufferPointer<Float>, _ body: (UnsafeMutablePointer<Float>, Int32) throws -> Void) throws {
    var offset = 0
    while offset < buffer.count {
      let n = min(buffer.count - offset, Int(Int32.max))
      try body(buffer.baseAddress! + offset, Int32(n))
      offset += n
    }
  }

  /// Runs `body`, adding its seconds (time spent in reduction calls), `bytes` and `calls` to the
  /// statistics.
  private func counted(bytes: Int, calls: Int, _ body: () throws -> Void) rethrows {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    lock.withLock {
      reduceSeconds += seconds
      reduceBytes += bytes
      reduceCalls += calls
    }
  }

  public func allgather(_ bytes: [UInt8]) throws -> [[UInt8]] {
    guard bytes.count <= Int(Int32.max) else { throw DistributedError("allgather of \(bytes.count) bytes: more than an MPI count") }
    var mine = Int32(bytes.count)
    var lengths = [Int32](repeating: 0, count: size)
    try Self.check(MPI_Allgather(&mine, 1, mf_mpi_int(), &lengths, 1, mf_mpi_int(), mf_mpi_comm_world()), "MPI_Allgather")
    var offsets = [Int32](repeating: 0, count: size)
    var total = 0
    for (i, n) in lengths.enumerated() {
      guard total <= Int(Int32.max) else { throw DistributedError("allgather of more than 2 GiB") }
      offsets[i] = Int32(total)
      total += Int(n)
    }
    var all = [UInt8](repeating: 0, count: max(total, 1))
    var send = bytes
    try Self.check(
      MPI_Allgatherv(&send, mine, mf_mpi_byte(), &all, lengths, offsets, mf_mpi_byte(), mf_mpi_comm_world()), "MPI_Allgatherv")
    return (0..<size).map { Array(all[Int(offsets[$0])..<(Int(offsets[$0]) + Int(lengths[$0]))]) }
  }

  public func barrier() throws { try Self.check(MPI_Barrier(mf_mpi_comm_world()), "MPI_Barrier") }

  /// Reductions (blocking or started), their bytes and the seconds spent in reduction calls so far
  /// (starting, advancing and waiting included: the time the loop did not compute; for benchmarks).
  public var reduceStatistics: (calls: Int, bytes: Int, seconds: Double) {
    lock.withLock { (reduceCalls, reduceBytes, reduceSeconds) }
  }

  /// Ends every rank of the job (`MPI_Abort`); `mpirun` then exits with `code`.
  public func abort(code: Int32) -> Never {
    MPI_Abort(mf_mpi_comm_world(), code)
    exit(code)
  }

  /// `MPI_Finalize`; the last MPI call of the process.
  public func finalize() { MPI_Finalize() }
}

/// An MPI call failed.
public struct DistributedError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The processes of this job: Open MPI's world when started by `mpirun` (which sets
/// `OMPI_COMM_WORLD_SIZE`), else one process and no MPI call at all.
public enum Job {
  /// Whether this process was started by Open MPI's launcher.
  public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

  /// The job's communicator (MPI initialised here when launched by `mpirun`), reducing gradients
  /// in buckets of at most `bucketBytes`.
  public static func start(bucketBytes: Int = SingleProcess.defaultBucketBytes) throws -> Communicator {
    launchedByMPI ? try MPICommunicator(bucketBytes: bucketBytes) : SingleProcess()
  }
}
