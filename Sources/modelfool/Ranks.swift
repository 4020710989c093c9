import Foundation
import ModelFoolDistributed
import ModelFoolTraining

/// The processes of this run: one, or the ranks of an MPI job when started by `mpirun`
/// (`mpirun -n P modelfool train|finetune|evaluate ...`). Rank 0 alone prints and writes; the
/// other ranks' standard output goes to /dev/null and their observers are silent.
enum Ranks {
  /// The job's communicator (MPI is initialised on first use, only under `mpirun`).
  static let communicator: Communicator = {
    do {
      return try Job.start()
    } catch {
      FileHandle.standardError.write(Data("Error: MPI could not start: \(error)\n".utf8))
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
      FileHandle.standardError.write(Data(String(
        format: "rank %d of %d: %d allreduce calls, %d bytes, %.3f s\n", mpi.rank, mpi.size, s.calls, s.bytes, s.seconds).utf8))
    }
    mpi.finalize()
  }

  /// Prints `line` on standard error and ends every rank of the job.
  static func abort(_ line: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data((line + "\n").utf8))
    guard let mpi = communicator as? MPICommunicator else { exit(code) }
    mpi.abort(code: code)
  }
}
