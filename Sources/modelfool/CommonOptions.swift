import ArgumentParser
import Foundation
import Synchronization
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// Options of every command that reads data: where the data sets are, the thread count, JSON output.
struct GlobalOptions: ParsableArguments {
  @Option(help: ArgumentHelp(DatasetCatalog.rootSearchHelp, valueName: "folder"))
  var datasetsRoot: String?

  @Option(help: "Threads for the engine's kernels and matrix products (default: all cores).")
  var threads: Int?

  @Flag(help: "Print the result as one JSON object on stdout (progress stays on stderr).")
  var json = false

  func validate() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    // A bad (or empty) $MODELFOOL_MAX_PIXELS fails before any work, not at the first image.
    do { _ = try ImageBudget.maxPixels() } catch { throw ValidationError("\(error)") }
  }

  /// The data sets' folder: the flag, else the search order of `DatasetCatalog.resolveRoot`.
  var root: String { get throws { try DatasetCatalog.resolveRoot(flag: datasetsRoot) } }

  /// Applies the thread count; returns the observer that draws progress on standard error (on
  /// rank 0 of an MPI job; the other ranks are silent).
  func prepare() -> RunObserver {
    if let threads { EngineThreads.set(threads) }
    guard Ranks.isRoot else { return .silent }
    warnIfGenericBLASCore()
    return TerminalObserver.make()
  }

  /// Prints `value` as one JSON line.
  func printJSON<T: Encodable>(_ value: T) throws { print(try jsonLine(value)) }
}

/// Options of the commands that run something from a model and a seed and write a run folder.
struct RunOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)); default: the data set's base model, trained first when missing.", valueName: "model"))
  var model: ModelReference?

  @Option(help: "Seed of every random choice of the run (and of a base model trained first).")
  var seed: UInt64 = 0

  @Option(help: "Output folder (default: under runs/).")
  var out: String?
}

/// `value` as one line of JSON (``RunJSON``).
func jsonLine<T: Encodable>(_ value: T) throws -> String { try RunJSON.encode(value) }

/// Prints ``BLASRuntime/genericCoreWarning(core:cpuFlags:environment:)`` on stderr, once per process.
func warnIfGenericBLASCore() {
  guard BLASWarning.once.withLock({ done in defer { done = true }; return !done }) else { return }
  if let line = BLASRuntime.genericCoreWarning() { logLine(line) }
}

private enum BLASWarning {
  static let once = Mutex(false)
}
