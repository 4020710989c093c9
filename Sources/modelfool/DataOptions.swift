import ArgumentParser
import ModelFoolData
import ModelFoolTraining

/// Where a command's examples come from: one option group for every command, giving one
/// ``DataSource`` (each command says which kinds it takes; a flag of another kind is an error,
/// never ignored).
struct DataOptions: ParsableArguments {
  @Option(help: "Catalogue data set; imagenet names the ILSVRC-2012 folder of --data-dir.") var dataset: DatasetName?
  @Option(help: ArgumentHelp("A CSV table of your own (read with --schema) instead of --dataset.", valueName: "file"))
  var csv: String?
  @Option(help: ArgumentHelp("The JSON schema of --csv: label, favourable class, features, sensitive features, split.", valueName: "file"))
  var schema: String?
  @Option(help: ArgumentHelp("ImageNet-layout folder (one subfolder per class) instead of --dataset.", valueName: "folder"))
  var images: String?
  @Option(help: ArgumentHelp("HDF5 file with 'images' (uint8 N x H x W x 3, RGB) and 'labels' instead of --dataset.", valueName: "file"))
  var h5: String?
  @Option(help: ArgumentHelp(
    "ILSVRC-2012 folder, streamed: train/<wnid>/*.JPEG, val/ (class folders, or flat with LOC_val_solution.csv or val_labels.json).",
    valueName: "folder"))
  var dataDir: String?
  @Option(help: "With --data-dir: the split used where a command takes one (train or val; default val).") var split: ILSVRCFolder.Split?
  @Option(parsing: .unconditional, help: "With --data-dir: at most N files per split, spread evenly over it.") var limit: Int?

  /// The data source the flags name (nil when none), checked against the `kinds` that `command` takes.
  func source(for command: String, accepting kinds: Set<DataSource.Kind>) throws -> DataSource? {
    let source = try DataSource.choose(
      dataset: dataset?.name, csv: csv, schema: schema, images: images, h5: h5, dataDir: dataDir, split: split, limit: limit)
    try source?.check(accepted: kinds, by: command)
    return source
  }

  /// The catalogue data set (or registered table) named, for commands that take only those.
  func catalogueName(for command: String) throws -> String? {
    try source(for: command, accepting: [.dataset, .table])?.catalogueName()
  }
}

/// A catalogue data set's name (or `imagenet`, the streamed ILSVRC-2012 folder), checked against the catalogue.
struct DatasetName: ExpressibleByArgument, CustomStringConvertible {
  var name: String
  init?(argument: String) {
    guard Self.allValueStrings.contains(argument) else { return nil }
    name = argument
  }
  static var allValueStrings: [String] { DatasetCatalog.names + [FineTuneSettings.streamedDataset] }
  var description: String { name }
}

/// `--model`: a checkpoint, an ONNX file, a pretrained name or `zoo:ARCH` (``ModelReference``).
extension ModelReference: ExpressibleByArgument {
  public init?(argument: String) {
    guard !argument.isEmpty else { return nil }
    self.init(parsing: argument)
  }

  /// What `--model` takes, for help texts.
  static var argumentHelp: String {
    "checkpoint .h5, ONNX file, pretrained name (\(WeightImport.known.map(\.name).joined(separator: ", "))) or zoo:ARCH"
  }
}
