import Foundation
import ModelFool
import ModelFoolData

/// HDF5 checkpoints: one Float32 dataset per parameter and buffer under its hierarchical name
/// (see ``HDF5File/datasetPath(forParameter:)``), plus string attributes on the root group:
///
/// | attribute | content |
/// |---|---|
/// | `format` | `modelfool-checkpoint` |
/// | `format_version` | `2` (``formatVersion``) |
/// | `architecture` | zoo name (`digits-cnn`, `mlp`, `resnet50`, ...) |
/// | `config` | JSON object of builder options (`{"classes": "10", ...}`) |
/// | `input_shape` | JSON array, one example without the batch axis |
/// | `class_names`, `feature_names` | JSON arrays of strings |
/// | `feature_groups` | JSON array of `{name, start, width, categories, isSensitive}` |
/// | `preprocessing` | what the caller does before the model (e.g. `scale=1/255`) |
/// | `target_layer` | default layer for Grad-CAM and "_T" explanations |
/// | `metadata` | JSON object: how the weights were made (dataset, accuracy, seed, ...) |
/// | `run` | a fine-tuned model's run record (``FineTuneDocument``, JSON), when it has one |
/// | `data_source` | a model of a user's CSV table: JSON `{csv, schema}` paths, so that it finds its data again |
///
/// Format version 2 guards against damage at two levels. Every attribute is a fixed-length string
/// kept in its object's header (version 1 used variable-length strings in the file's global
/// heap, where one flipped byte crashed libhdf5). Each dataset carries a `crc32` attribute, the
/// CRC-32 of its little-endian Float32 bytes as 8 hex digits (Python:
/// `"%08x" % zlib.crc32(f[k][()].astype("<f4").tobytes())`), checked when it is loaded. And the
/// file is *sealed* (``HDF5File/seal(_:)``): its first 512 bytes, a user block libhdf5 skips,
/// hold its length and the CRC-32 of every byte after them, checked before libhdf5 reads the file,
/// so a damaged file is refused with one line instead of reaching libhdf5's parsers. Editing a
/// version-2 file with another tool breaks its seal: save it again through ModelFool.
/// Version-1 files and files written by h5py (no `format_version`) still load, with a warning
/// that nothing in them can be checked.
///
/// Files are written atomically (temporary file, then rename), so a failure never leaves a
/// half-written checkpoint in place of a good one.
public enum Checkpoint {
  public static let format = "modelfool-checkpoint"
  /// The format version written; files of this version or older are read.
  public static let formatVersion = 2

  /// Writes `model` to `path` atomically; `metadata` is stored as a JSON attribute, `run` (a run
  /// record in JSON) as the `run` attribute.
  public static func save(_ model: Model, to path: String, metadata: [String: String] = [:], run: String? = nil) throws {
    let named = model.namedParameters()
    for (name, p) in named where !p.value.scalars.allSatisfy(\.isFinite) {
      throw DataError("refusing to write \(path): parameter \(name) holds NaN or infinite values")
    }
    try HDF5File.writeAtomically(to: path, sealed: true) { file in
      for (name, p) in named {
        let datasetPath = HDF5File.datasetPath(forParameter: name)
        try file.writeTensor(p.value, at: datasetPath)
        try file.setAttribute(digestAttribute, to: digest(p.value), at: datasetPath)
      }
      let attributes: [(String, String)] = [
        ("format", format), ("format_version", String(formatVersion)), ("architecture", model.architecture),
        ("config", try json(model.config)), ("input_shape", try json(model.inputShape)),
        ("class_names", try json(model.classNames)), ("feature_names", try json(model.featureNames)),
        ("feature_groups", model.featureGroupsJSON.isEmpty ? "[]" : model.featureGroupsJSON),
        ("preprocessing", model.preprocessing), ("target_layer", model.targetLayer),
        ("metadata", try json(metadata)),
      ]
      for (k, v) in attributes + (run.map { [("run", $0)] } ?? []) { try file.setAttribute(k, to: v) }
      // A model of a user's registered table records where the table is (``DatasetCatalog/Entry/origin``).
      let dataset = metadata["dataset"] ?? run.flatMap { try? FineTuneDocument.decode($0, source: path).settings.dataset }
      if let dataset, let entry = try? DatasetCatalog.entry(dataset), !entry.origin.isEmpty {
        try file.setAttribute("data_source", to: try json(entry.origin))
      }
    }
  }

  /// Rebuilds the architecture named in the file and loads every parameter and buffer, checking
  /// the file's seal and each tensor's checksum (format version 2). A version-1 file loads with a
  /// one-line warning sent to `log`: it carries no checksums. An existing file named `*.onnx` is
  /// an ONNX model instead (``WeightImport/loadONNX(_:classNames:preprocessing:)``), so every
  /// command that takes a checkpoint takes an ONNX file.
  ///
  /// - Throws: a one-line error naming the file and what is wrong: damage (a failed seal or
  ///   checksum), every missing, unexpected or mis-shaped parameter (at most a few, then a count).
  public static func load(
    _ path: String, log: (String) -> Void = { _ in }, trustUnsealed: Bool = Checkpoint.trustsUnsealedFiles
  ) throws -> Model {
    if WeightImport.isONNX(path), FileManager.default.fileExists(atPath: path) { return try WeightImport.loadONNX(path) }
    let (file, version) = try openChecked(path, trustUnsealed: trustUnsealed)
    defer { try? file.close() }
    if version < formatVersion {
      log("checkpoint \(path) is format version \(version) (or written by another tool): it carries no checksums, so damage to it cannot be detected; save it again to upgrade it")
    }
    guard file.hasAttribute("architecture") else {
      throw DataError("\(path) is not a ModelFool checkpoint (no 'architecture' attribute)")
    }
    let architecture = try file.stringAttribute("architecture")
    let config: [String: String] = try decode(file, "config", path) ?? [:]
    let model = try ModelZoo.build(architecture: architecture, options: config)
    if let shape: [Int] = try decode(file, "input_shape", path) { model.inputShape = shape }
    model.classNames = try decode(file, "class_names", path) ?? model.classNames
    model.featureNames = try decode(file, "feature_names", path) ?? model.featureNames
    if file.hasAttribute("feature_groups") { model.featureGroupsJSON = try file.stringAttribute("feature_groups") }
    if file.hasAttribute("preprocessing") { model.preprocessing = try file.stringAttribute("preprocessing") }
    if file.hasAttribute("target_layer") { model.targetLayer = try file.stringAttribute("target_layer") }
    if let origin: [String: String] = try decode(file, "data_source", path) {
      // The table the model was trained on becomes a data set of the catalogue again.
      do { _ = try CSVTableSource.register(origin: origin) } catch {
        log("checkpoint \(path) was trained on \(origin["csv"] ?? "a table") that cannot be read now (\(error)): name the data to use")
      }
    }

    let stored = Set(try file.datasetPaths().map { HDF5File.parameterName(forDatasetPath: $0) })
    let named = model.namedParameters()
    let expected = Set(named.map(\.name))
    var problems: [String] = []
    // BatchNorm's step counter is bookkeeping, not a weight: exports from Keras lack it.
    let missing = expected.subtracting(stored).filter { !$0.hasSuffix("num_batches_tracked") }.sorted()
    let unexpected = stored.subtracting(expected).sorted()
    if !missing.isEmpty { problems.append("missing \(list(missing))") }
    if !unexpected.isEmpty { problems.append("unexpected \(list(unexpected))") }
    for (name, p) in named where stored.contains(name) {
      let shape = try file.shape(at: HDF5File.datasetPath(forParameter: name))
      if shape != p.shape { problems.append("\(name) has shape \(shape), \(architecture) needs \(p.shape)") }
    }
    guard problems.isEmpty else {
      throw DataError("checkpoint \(path) does not fit \(architecture): \(problems.prefix(4).joined(separator: "; "))\(problems.count > 4 ? "; and \(problems.count - 4) more" : "")")
    }
    for (name, p) in named where stored.contains(name) {
      let datasetPath = HDF5File.datasetPath(forParameter: name)
      let tensor = try file.readTensor(at: datasetPath)
      if version >= 2 {
        guard file.hasAttribute(digestAttribute, at: datasetPath) else {
          throw DataError("checkpoint \(path): tensor \(name) has no checksum")
        }
        guard try file.stringAttribute(digestAttribute, at: datasetPath) == digest(tensor) else {
          throw DataError("checkpoint \(path): tensor \(name) fails its checksum")
        }
      }
      try p.load(tensor, name: name)
    }
    return model
  }

  /// The name of each dataset's checksum attribute.
  public static let digestAttribute = "crc32"

  /// The CRC-32 of `values` as little-endian Float32 bytes, 8 lower-case hex digits.
  public static func digest(_ values: [Float]) -> String {
    hex(values.withUnsafeBytes { HDF5File.crc32($0) })  // little-endian hosts only (x86, ARM)
  }

  /// The CRC-32 of a tensor's values, as for an array of them, read in place.
  public static func digest(_ tensor: Tensor) -> String {
    hex(tensor.withUnsafeScalars { HDF5File.crc32(UnsafeRawBufferPointer($0)) })
  }

  /// The CRC-32 of a model's weights: every parameter's name and values, in name order. Two
  /// files at one path with other weights have other digests.
  public static func digest(of model: Model) -> String {
    var crc: UInt32 = 0
    for (name, p) in model.namedParameters().sorted(by: { $0.name < $1.name }) {
      crc = Array(name.utf8).withUnsafeBytes { HDF5File.crc32($0, continuing: crc) }
      crc = p.value.withUnsafeScalars { HDF5File.crc32(UnsafeRawBufferPointer($0), continuing: crc) }
    }
    return hex(crc)
  }

  private static func hex(_ crc: UInt32) -> String {
    let hex = String(crc, radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
  }

  /// Opens a checkpoint after checking its seal; returns the file and its format version (1 when
  /// it records none). A file without a seal that claims version 2, a damaged seal, and a
  /// version newer than this release reads throw one-line errors naming the file.
  /// Whether unsealed files (format version 1, or written by another tool such as h5py) are read:
  /// libhdf5 parses them without any check of ours, and fuzzing found mutated ones that make it read
  /// out of bounds or spin for minutes, so they are refused unless `MODELFOOL_TRUST_UNSEALED=1`.
  public static var trustsUnsealedFiles: Bool { ProcessInfo.processInfo.environment["MODELFOOL_TRUST_UNSEALED"] == "1" }

  static func openChecked(_ path: String, trustUnsealed: Bool = Checkpoint.trustsUnsealedFiles) throws -> (HDF5File, Int) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw DataError("checkpoint \(path) does not exist")
    }
    let sealed: Bool
    do { sealed = try HDF5File.verifySeal(path) } catch let error as DataError where error.description.hasPrefix(path) {
      throw DataError("checkpoint \(error.description)")
    }
    // A sealed file's bytes are the ones written; an unsealed (version 1) one is checked where
    // libhdf5 itself does not check (its global heap).
    guard sealed || trustUnsealed || !hasHDF5Signature(path) else {
      throw DataError("checkpoint \(path) is not sealed (format version 1, or written by another tool), so its bytes cannot be checked before libhdf5 reads them; if you trust the file, set MODELFOOL_TRUST_UNSEALED=1 (loading re-saves nothing: save it again to seal it)")
    }
    if !sealed, trustUnsealed { try HDF5File.checkGlobalHeaps(path) }
    let file = try HDF5File.open(path)
    do {
      var version = 1
      if file.hasAttribute("format_version") {
        let text = try file.stringAttribute("format_version")
        guard let number = Int(text), number >= 1 else {
          throw DataError("checkpoint \(path): format_version '\(text.prefix(20))' is not a version number")
        }
        version = number
      }
      guard version <= formatVersion else {
        throw DataError("checkpoint \(path) was written by a newer ModelFool (format version \(version), this one reads up to \(formatVersion))")
      }
      if version >= 2, !sealed {
        throw DataError("checkpoint \(path): format version \(version) but its seal (the checksum in its first \(HDF5File.sealSize) bytes) is missing or damaged")
      }
      return (file, version)
    } catch {
      try? file.close()
      throw error
    }
  }

  /// The `metadata` attribute of a checkpoint.
  public static func metadata(_ path: String) throws -> [String: String] {
    let (file, _) = try openChecked(path)
    defer { try? file.close() }
    return try decode(file, "metadata", path) ?? [:]
  }

  /// The `run` attribute of a checkpoint (a fine-tuned model's ``FineTuneDocument``), nil when
  /// it has none (base models, imported weights).
  public static func runRecord(_ path: String) throws -> String? {
    let (file, _) = try openChecked(path)
    defer { try? file.close() }
    return file.hasAttribute("run") ? try file.stringAttribute("run") : nil
  }

  /// The catalogue data set a checkpoint records (its `dataset` metadata, else its fine-tuning's
  /// run record), the default data of every command that takes the model; nil when it records
  /// none or is not a readable checkpoint. A recorded CSV table (`data_source`) is registered as
  /// a data set of the catalogue again. The file is opened once.
  public static func recordedDataset(_ path: String) -> String? {
    guard let (file, _) = try? openChecked(path) else { return nil }
    defer { try? file.close() }
    if let origin: [String: String] = try? decode(file, "data_source", path) { _ = try? CSVTableSource.register(origin: origin) }
    if let metadata: [String: String] = try? decode(file, "metadata", path), let name = metadata["dataset"] { return name }
    guard file.hasAttribute("run"), let text = try? file.stringAttribute("run") else { return nil }
    return (try? FineTuneDocument.decode(text, source: path))?.settings.dataset
  }

  static func list(_ names: [String]) -> String {
    names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " (+\(names.count - 5) more)" : "")
  }

  static func json<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  static func decode<T: Decodable>(_ file: HDF5File, _ name: String, _ path: String) throws -> T? {
    guard file.hasAttribute(name) else { return nil }
    let text = try file.stringAttribute(name)
    do { return try JSONDecoder().decode(T.self, from: Data(text.utf8)) } catch {
      throw DataError("checkpoint \(path): attribute '\(name)' is not valid JSON: \(text.prefix(80))")
    }
  }
}
