import Foundation
import ModelFool
import ModelFoolData

/// HDF5 checkpoints: one Float32 dataset per parameter and buffer under its hierarchical name
/// (see ``HDF5File/datasetPath(forParameter:)``), plus string attributes on the root group:
///
/// | attribute | content |
/// |---|---|
/// | `format` | `modelfool-checkpoint` |
/// | `format_version` | `1` |
/// | `architecture` | zoo name (`digits-cnn`, `mlp`, `resnet50`, ...) |
/// | `config` | JSON object of builder options (`{"classes": "10", ...}`) |
/// | `input_shape` | JSON array, one example without the batch axis |
/// | `class_names`, `feature_names` | JSON arrays of strings |
/// | `feature_groups` | JSON array of `{name, start, width, categories, isSensitive}` |
/// | `preprocessing` | what the caller does before the model (e.g. `scale=1/255`) |
/// | `target_layer` | default layer for Grad-CAM and "_T" explanations |
/// | `metadata` | JSON object: how the weights were made (dataset, accuracy, seed, ...) |
/// | `run` | a fine-tuned model's run record (``FineTuneDocument``, JSON), when it has one |
///
/// Files are written atomically (temporary file, then rename), so a failure never leaves a
/// half-written checkpoint in place of a good one.
public enum Checkpoint {
  public static let format = "modelfool-checkpoint"

  /// Writes `model` to `path` atomically; `metadata` is stored as a JSON attribute, `run` (a run
  /// record in JSON) as the `run` attribute.
  public static func save(_ model: Model, to path: String, metadata: [String: String] = [:], run: String? = nil) throws {
    let named = model.namedParameters()
    for (name, p) in named where !p.value.scalars.allSatisfy(\.isFinite) {
      throw DataError("refusing to write \(path): parameter \(name) holds NaN or infinite values")
    }
    try HDF5File.writeAtomically(to: path) { file in
      for (name, p) in named {
        try file.writeTensor(p.value, at: HDF5File.datasetPath(forParameter: name))
      }
      let attributes: [(String, String)] = [
        ("format", format), ("format_version", "1"), ("architecture", model.architecture),
        ("config", try json(model.config)), ("input_shape", try json(model.inputShape)),
        ("class_names", try json(model.classNames)), ("feature_names", try json(model.featureNames)),
        ("feature_groups", model.featureGroupsJSON.isEmpty ? "[]" : model.featureGroupsJSON),
        ("preprocessing", model.preprocessing), ("target_layer", model.targetLayer),
        ("metadata", try json(metadata)),
      ]
      for (k, v) in attributes + (run.map { [("run", $0)] } ?? []) { try file.setAttribute(k, to: v) }
    }
  }

  /// Rebuilds the architecture named in the file and loads every parameter and buffer.
  ///
  /// - Throws: a one-line error naming the file and every missing, unexpected or mis-shaped
  ///   parameter (at most a few, then a count).
  public static func load(_ path: String) throws -> Model {
    guard FileManager.default.fileExists(atPath: path) else {
      throw DataError("checkpoint \(path) does not exist")
    }
    let file = try HDF5File.open(path)
    defer { try? file.close() }
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
      try p.load(file.readTensor(at: HDF5File.datasetPath(forParameter: name)), name: name)
    }
    return model
  }

  /// The `metadata` attribute of a checkpoint.
  public static func metadata(_ path: String) throws -> [String: String] {
    let file = try HDF5File.open(path)
    defer { try? file.close() }
    return try decode(file, "metadata", path) ?? [:]
  }

  /// The `run` attribute of a checkpoint (a fine-tuned model's ``FineTuneDocument``), nil when
  /// it has none (base models, imported weights).
  public static func runRecord(_ path: String) throws -> String? {
    let file = try HDF5File.open(path)
    defer { try? file.close() }
    return file.hasAttribute("run") ? try file.stringAttribute("run") : nil
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
