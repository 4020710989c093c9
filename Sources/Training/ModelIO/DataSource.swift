import Foundation
import ModelFool
import ModelFoolData

/// Where a command's examples come from: one value, chosen once from the command line (or read
/// from a checkpoint's record) and resolved in one place.
///
/// - ``dataset(_:)``: a data set of the catalogue (``DatasetCatalog``), including a CSV table
///   registered under its schema's name;
/// - ``table(csv:schema:)``: a CSV table of the user's own read with its JSON schema (``CSVSchema``);
/// - ``imageFolder(_:)``: a folder in the ImageNet layout (one subfolder per class), in memory;
/// - ``hdf5(_:)``: an HDF5 file of `images` (uint8 `N x H x W x 3`) and `labels`;
/// - ``ilsvrc(folder:split:limit:)``: an ILSVRC-2012 folder, streamed (``ILSVRCFolder``).
///
/// Encoded as a flat JSON object with one of the keys `dataset`, `csv` (with `schema`), `images`,
/// `h5`, `dataDir` (with `split` and `limit`).
public enum DataSource: Sendable, Hashable, Codable, CustomStringConvertible {
  case dataset(String)
  case table(csv: String, schema: String)
  case imageFolder(String)
  case hdf5(String)
  case ilsvrc(folder: String, split: ILSVRCFolder.Split?, limit: Int?)

  /// The kinds of data source, for the list of those a command takes.
  public enum Kind: String, Sendable, CaseIterable {
    case dataset, table, imageFolder, hdf5, ilsvrc
  }

  /// This source's kind.
  public var kind: Kind {
    switch self {
    case .dataset: .dataset
    case .table: .table
    case .imageFolder: .imageFolder
    case .hdf5: .hdf5
    case .ilsvrc: .ilsvrc
    }
  }

  /// The source given by exactly one of the arguments (nil when none is): a catalogue `dataset`
  /// (`imagenet` names the streamed `dataDir`), a `csv` table with its `schema`, an `images`
  /// folder, an `h5` file, or an ILSVRC-2012 `dataDir` with its `split` and `limit`. `split` and
  /// `limit` without `dataDir`, or a CSV without its schema, are errors.
  public static func choose(
    dataset: String? = nil, csv: String? = nil, schema: String? = nil, images: String? = nil, h5: String? = nil,
    dataDir: String? = nil, split: ILSVRCFolder.Split? = nil, limit: Int? = nil
  ) throws -> DataSource? {
    if (csv == nil) != (schema == nil) { throw TrainingError("a CSV table and its schema go together", settings: ["csv", "schema"]) }
    if dataDir == nil, split != nil || limit != nil {
      throw TrainingError("a split and a file limit apply to a streamed ILSVRC-2012 folder only", settings: ["split", "limit", "dataDir"])
    }
    if let limit, limit <= 0 { throw TrainingError("the file limit must be positive, got \(limit)", settings: ["limit"]) }
    let streamedName = dataset == FineTuneSettings.streamedDataset && dataDir != nil
    var found: [DataSource] = []
    if let dataset, !streamedName { found.append(.dataset(dataset)) }
    if let csv, let schema { found.append(.table(csv: csv, schema: schema)) }
    if let images { found.append(.imageFolder(images)) }
    if let h5 { found.append(.hdf5(h5)) }
    if let dataDir { found.append(.ilsvrc(folder: dataDir, split: split, limit: limit)) }
    if dataset == FineTuneSettings.streamedDataset, dataDir == nil {
      throw TrainingError("the imagenet data set is streamed from an ILSVRC-2012 folder: name it", settings: ["dataDir"])
    }
    guard found.count <= 1 else {
      throw TrainingError("give one data source, not \(found.count): \(found.map(\.description).joined(separator: ", "))", settings: found.map(\.setting))
    }
    return found.first
  }

  /// Checks that a command taking `kinds` can use this source.
  public func check(accepted kinds: Set<Kind>, by command: String) throws {
    guard !kinds.contains(kind) else { return }
    let names = Kind.allCases.filter(kinds.contains).map(\.phrase)
    let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
    throw TrainingError("\(command) takes \(list), not \(kind.phrase) (\(self))", settings: [setting])
  }

  /// The catalogue name of a data set or table (a table is registered in the catalogue under its
  /// schema's name first); nil for image folders, HDF5 files and ILSVRC folders.
  public func catalogueName() throws -> String? {
    switch self {
    case .dataset(let name): name
    case .table(let csv, let schema): try CSVTableSource.register(csv: csv, schemaPath: schema)
    case .imageFolder, .hdf5, .ilsvrc: nil
    }
  }

  /// The in-memory examples `model` is evaluated on: a catalogue data set's test split (the
  /// ImageNet sample and image folders through the model's own image pipeline), an HDF5 file's
  /// examples. A streamed ILSVRC folder is refused (use ``streamed(for:split:)``). The examples'
  /// shape is checked against the model's input. `log` receives the line counting an image
  /// folder's files that are skipped as not regular files.
  public func evaluationData(
    for model: Model, datasetsRoot: String = DatasetCatalog.defaultRoot, log: (String) -> Void
  ) throws -> Dataset {
    var data: Dataset
    switch self {
    case .imageFolder(let folder):
      guard let steps = try ModelInputs.imagePreprocessing(for: model) else {
        throw DataError("\(folder): \(model.architecture) is not an image model")
      }
      data = try ImageNetDataset.loadFolder(root: folder, preprocessing: steps, log: log)
      data.inputs = ModelInputs.luma(data.inputs, channels: model.inputShape[0])
    case .hdf5(let path):
      data = try ModelInputs.imageNetHDF5(path, for: model)
    case .ilsvrc(let folder, _, _):
      throw TrainingError("\(folder): an ILSVRC-2012 folder is streamed; this needs in-memory data", settings: [setting])
    case .dataset("imagenet-sample"):
      if let steps = try ModelInputs.imagePreprocessing(for: model) {
        data = try ImageNetDataset.loadSample(folder: datasetsRoot + "/imagenet-sample", preprocessing: steps)
      } else {
        data = try DatasetCatalog.load("imagenet-sample", root: datasetsRoot).test
      }
    case .dataset, .table:
      data = try DatasetCatalog.load(try catalogueName()!, root: datasetsRoot).test
    }
    try ModelInputs.checkShape(data.inputs, for: model, source: data.name)
    return data
  }

  /// The files of a streamed ILSVRC-2012 folder for `model`: this source's split (else
  /// `defaultSplit`), at most its limit of files spread evenly; nil for the other sources.
  public func streamed(
    for model: Model, defaultSplit: ILSVRCFolder.Split = .val, log: (String) -> Void
  ) throws -> ImageFolderSource? {
    guard case .ilsvrc(let folder, let split, let limit) = self else { return nil }
    return try ModelInputs.streamedImages(for: model, dataDir: folder, split: split ?? defaultSplit, limit: limit, log: log)
  }

  public var description: String {
    switch self {
    case .dataset(let name): "data set \(name)"
    case .table(let csv, _): "table \(csv)"
    case .imageFolder(let folder): "image folder \(folder)"
    case .hdf5(let path): "HDF5 file \(path)"
    case .ilsvrc(let folder, _, _): "ILSVRC-2012 folder \(folder)"
    }
  }

  /// The source in one word, as reports and calibrations record it: the data set's name, the
  /// CSV file, the image folder, the HDF5 file or the ILSVRC folder.
  public var label: String {
    switch self {
    case .dataset(let name): name
    case .table(let csv, _): csv
    case .imageFolder(let path), .hdf5(let path), .ilsvrc(let path, _, _): path
    }
  }

  /// The setting (flag) that names this source, for error messages.
  var setting: String {
    switch self {
    case .dataset: "dataset"
    case .table: "csv"
    case .imageFolder: "images"
    case .hdf5: "h5"
    case .ilsvrc: "dataDir"
    }
  }

  // MARK: Codable: one flat object

  enum CodingKeys: String, CodingKey { case dataset, csv, schema, images, h5, dataDir, split, limit }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let chosen = try Self.choose(
      dataset: c.decodeIfPresent(String.self, forKey: .dataset), csv: c.decodeIfPresent(String.self, forKey: .csv),
      schema: c.decodeIfPresent(String.self, forKey: .schema), images: c.decodeIfPresent(String.self, forKey: .images),
      h5: c.decodeIfPresent(String.self, forKey: .h5), dataDir: c.decodeIfPresent(String.self, forKey: .dataDir),
      split: c.decodeIfPresent(ILSVRCFolder.Split.self, forKey: .split), limit: c.decodeIfPresent(Int.self, forKey: .limit))
    guard let chosen else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no data source"))
    }
    self = chosen
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    switch self {
    case .dataset(let name): try c.encode(name, forKey: .dataset)
    case .table(let csv, let schema): try c.encode(csv, forKey: .csv); try c.encode(schema, forKey: .schema)
    case .imageFolder(let folder): try c.encode(folder, forKey: .images)
    case .hdf5(let path): try c.encode(path, forKey: .h5)
    case .ilsvrc(let folder, let split, let limit):
      try c.encode(folder, forKey: .dataDir)
      try c.encodeIfPresent(split, forKey: .split)
      try c.encodeIfPresent(limit, forKey: .limit)
    }
  }
}

extension DataSource.Kind {
  /// The kind in words, for error messages.
  var phrase: String {
    switch self {
    case .dataset: "a catalogue data set"
    case .table: "a CSV table"
    case .imageFolder: "an image folder"
    case .hdf5: "an HDF5 file"
    case .ilsvrc: "an ILSVRC-2012 folder"
    }
  }
}
