import Foundation
import ModelFoolDistributed
import ModelFoolTraining

/// The processes of this run: one, or the ranks of an MPI job when started by `mpirun`
/// (`mpirun -n P modelfool train|finetune|evaluate ...`). Rank 0 alone prints and writes; the
/// other ranks' standard output goes to /dev/null and their observers are silent.
enum Ranks {
  /// The job's communicator (MPI is initialised on first use, only under `mpirun`).
  /// `MODELFOOL_MPI_BUCKET_BYTES` sets the largest gradient bucket of one reduction (default
  /// 25 MiB).
  static let communicator: Communicator = {
    var bucketBytes = SingleProcess.defaultBucketBytes
    if let text = ProcessInfo.processInfo.environment["MODELFOOL_MPI_BUCKET_BYTES"] {
      guard let n = Int(text), n > 0 else {
        StandardError.writeLast("Error: MODELFOOL_MPI_BUCKET_BYTES must be a positive number of bytes, got '\(text)'\n")
        exit(1)
      }
      bucketBytes = n
    }
    do {
      return try Job.start(bucketBytes: bucketBytes)
    } catch {
      StandardError.writeLast("Error: MPI could not start: \(error)\n")
      exit(1)
    }
  }()

  /// Whether this process prints and writes.
  static var isRoot: Bool { communicator.rank == 0 }

  /// Starts MPI under `mpirun` and silences the standard output of ranks other than 0.
  static func start() {
    guard !isRoot else { return }
    let null = open("/dev/null", O_WRONLY)
    if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
  }

  /// Ends MPI (a no-op for one process).
  static func finish() {
    guard let mpi = communicator as? MPICommunicator else { return }
    // MODELFOOL_MPI_STATS=1: each rank tells its allreduce totals (for benchmarks).
    if ProcessInfo.processInfo.environment["MODELFOOL_MPI_STATS"] != nil {
      let s = mpi.reduceStatistics
      logLine(String(format: "rank %d of %d: %d allreduce calls, %d bytes, %.3f s", mpi.rank, mpi.size, s.calls, s.bytes, s.seconds))
    }
    mpi.finalize()
  }

  /// Prints `line` on standard error and ends every rank of the job.
  static func abort(_ line: String, code: Int32) -> Never {
    StandardError.writeLast(line + "\n")
    guard let mpi = communicator as? MPICommunicator else { exit(code) }
    mpi.abort(code: code)
  }
}
