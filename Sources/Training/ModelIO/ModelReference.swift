import Foundation
import ModelFool
import ModelFoolData

/// Which model a command works on: one value parsed from `--model` (or chosen by default) and
/// loaded in one place, ``resolve(datasetsRoot:log:)``.
///
/// - ``checkpoint(_:)``: a checkpoint file (`.h5`) or an ONNX file (``Checkpoint/load(_:log:trustUnsealed:)``);
/// - ``pretrained(_:)``: a known pretrained name (``WeightImport/known``), imported on first use
///   into ``WeightImport/defaultCheckpointPath(for:)``;
/// - ``baseModel(dataset:biased:)``: the cached base model of a catalogue data set
///   (``FineTuneSetup/baseCheckpointPath(dataset:biased:)``);
/// - ``zoo(_:)``: a zoo architecture with fresh random weights (`zoo:resnet50`), for benchmarks.
public enum ModelReference: Sendable, Hashable, CustomStringConvertible {
  case checkpoint(String)
  case pretrained(String)
  case baseModel(dataset: String, biased: Bool)
  case zoo(String)

  /// The model a `--model` argument names: `zoo:ARCH`, an existing file, a known pretrained name,
  /// else a checkpoint path (which must exist when resolved).
  public init(parsing argument: String) {
    if argument.hasPrefix(Self.zooPrefix) {
      self = .zoo(String(argument.dropFirst(Self.zooPrefix.count)))
    } else if !FileManager.default.fileExists(atPath: argument), WeightImport.pretrained(named: argument) != nil {
      self = .pretrained(argument)
    } else {
      self = .checkpoint(argument)
    }
  }

  /// The prefix of a zoo architecture with random weights.
  public static let zooPrefix = "zoo:"

  /// The checkpoint file this reference loads (for a pretrained name, where it is imported to);
  /// nil for a zoo architecture.
  public var checkpointPath: String? {
    switch self {
    case .checkpoint(let path): path
    case .pretrained(let name): WeightImport.defaultCheckpointPath(for: name)
    case .baseModel(let dataset, let biased): FineTuneSetup.baseCheckpointPath(dataset: dataset, biased: biased)
    case .zoo: nil
    }
  }

  /// The argument that names this model again (`--model`, recorded settings).
  public var argument: String {
    switch self {
    case .checkpoint(let path): path
    case .pretrained(let name): name
    case .baseModel: checkpointPath!
    case .zoo(let architecture): Self.zooPrefix + architecture
    }
  }

  public var description: String { argument }

  /// Loads the model: a checkpoint or ONNX file; a pretrained name's checkpoint, imported first
  /// (with a message through `log`) when missing; a data set's base model (which must have been
  /// trained: `modelfool train --dataset NAME`); a zoo architecture with random weights.
  public func resolve(datasetsRoot: String = DatasetCatalog.defaultRoot, log: (String) -> Void = { _ in }) throws -> Model {
    switch self {
    case .zoo(let architecture):
      return try ModelZoo.build(architecture: architecture)
    case .pretrained(let name):
      let path = WeightImport.defaultCheckpointPath(for: name)
      if !FileManager.default.fileExists(atPath: path), let known = WeightImport.pretrained(named: name) {
        log("\(path) is missing: importing \(known.name) first")
        _ = try WeightImport.importPretrained(known, datasetsRoot: datasetsRoot, log: log)
      }
      return try Checkpoint.load(path, log: log)
    case .baseModel(let dataset, _):
      let path = checkpointPath!
      guard FileManager.default.fileExists(atPath: path) else {
        throw TrainingError("no base model of \(dataset) at \(path): train it with `modelfool train --dataset \(dataset)`", settings: ["model"])
      }
      return try Checkpoint.load(path, log: log)
    case .checkpoint(let path):
      guard FileManager.default.fileExists(atPath: path) else {
        throw DataError(
          "no checkpoint at \(path), and it is not a known model name (known: \(WeightImport.known.map(\.name).joined(separator: ", ")))",
          settings: ["model"])
      }
      return try Checkpoint.load(path, log: log)
    }
  }
}
