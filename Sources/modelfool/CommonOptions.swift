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
  @Option(help: "Checkpoint or pretrained model name (default: the data set's base model, trained first when missing).")
  var model: String?

  @Option(help: "Seed of every random choice of the run (and of a base model trained first).")
  var seed: UInt64 = 0

  @Option(help: "Output folder (default: under runs/).")
  var out: String?
}

/// A table of the user's own as the data set: a CSV file and its JSON schema
/// (docs/examples/adult.schema.json; ``CSVSchema``).
struct TableOptions: ParsableArguments {
  @Option(help: ArgumentHelp("A CSV table of your own as the data set (read with --schema) instead of --dataset.", valueName: "file"))
  var csv: String?
  @Option(help: ArgumentHelp("The JSON schema of --csv: label, favourable class, features, sensitive features, split.", valueName: "file"))
  var schema: String?

  func validate() throws {
    if (csv == nil) != (schema == nil) { throw ValidationError("--csv and --schema go together") }
  }

  /// The data set to use: `named` (a `--dataset` value), or the table registered under its
  /// schema's name; both is an error.
  func dataset(_ named: String?) throws -> String? {
    guard let csv, let schema else { return named }
    guard named == nil else { throw ValidationError("give one data source: --dataset or --csv") }
    return try CSVTableSource.register(csv: csv, schemaPath: schema)
  }
}

/// The data an audit explains: a catalogue data set's test split (default: the one the checkpoint
/// records), an ImageNet-layout folder or an HDF5 file of images and labels.
struct AuditDataOptions: ParsableArguments {
  @Option(help: "Data set whose test split is used (default: the one the checkpoint records).") var dataset: DatasetName?
  @Option(help: "ImageNet-layout folder (one subfolder per class) instead of --dataset.") var images: String?
  @Option(help: "HDF5 file with 'images' (uint8 N x H x W x 3, RGB) and 'labels' instead of --dataset.") var h5: String?
  @OptionGroup var table: TableOptions

  /// The catalogue data set (or registered table) named, if any.
  func datasetName() throws -> String? { try table.dataset(dataset?.name) }
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
