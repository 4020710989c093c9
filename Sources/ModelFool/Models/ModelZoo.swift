import Foundation

/// The registry of architectures: builds a ``Model`` from an architecture name and string options
/// (the form stored in checkpoints), so a checkpoint's `architecture` and `config` rebuild the
/// network before its weights are loaded.
///
/// Options common to all builders: `seed` (UInt64, default 0) and `classes`. Image builders for
/// ImageNet also take `normalize` (`true`/`false`, default `true`: the network starts with a
/// ``Normalize`` layer and takes RGB in [0, 1]) and `size` (input height = width, default 224).
/// See each builder for its own options. Unknown options or bad values are one-line errors.
public enum ModelZoo {
  /// Builder signature.
  public typealias Builder = @Sendable (inout ModelOptions) throws -> Model

  static let builders: [String: Builder] = [
    "digits-cnn": { try SmallModels.digitsCNN(&$0) },
    "mlp": { try SmallModels.mlp(&$0) },
    "vgg11": { try VGG.build(depth: 11, &$0) },
    "vgg16": { try VGG.build(depth: 16, &$0) },
    "vgg19": { try VGG.build(depth: 19, &$0) },
    "resnet18": { try ResNet.build(depth: 18, &$0) },
    "resnet50": { try ResNet.build(depth: 50, &$0) },
    "densenet121": { try DenseNet.build121(&$0) },
    "efficientnet-lite0": { try EfficientNetLite.buildLite0(&$0) },
    GraphModel.architecture: { try GraphModel.build(&$0) },
    ScaffoldModel.architecture: { try ScaffoldModel.build(&$0) },
  ]

  /// Known architecture names, sorted: those built from options alone (imported graphs,
  /// ``GraphModel/architecture``, are rebuilt from the graph their checkpoint holds, scaffolds,
  /// ``ScaffoldModel/architecture``, from their inner models' entries).
  public static var architectures: [String] {
    builders.keys.filter { $0 != GraphModel.architecture && $0 != ScaffoldModel.architecture }.sorted()
  }

  /// Builder options from `KEY=VALUE` words (`classes=10`); a word without `=`, an empty key or
  /// a key given twice throws ``LayerError``.
  public static func options(parsing words: [String]) throws -> [String: String] {
    var result: [String: String] = [:]
    for word in words {
      let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2, !parts[0].isEmpty else { throw LayerError("option '\(word)' is not KEY=VALUE") }
      guard result.updateValue(parts[1], forKey: parts[0]) == nil else { throw LayerError("option \(parts[0]) given twice") }
    }
    return result
  }

  /// Builds `architecture` with `options`.
  ///
  /// - Throws: ``LayerError`` for an unknown architecture (listing the known ones), an unknown
  ///   option, or a value that does not parse.
  public static func build(architecture: String, options: [String: String] = [:]) throws -> Model {
    guard let builder = builders[architecture] else {
      throw LayerError(
        "unknown architecture '\(architecture)' (known: \(architectures.joined(separator: ", ")))")
    }
    var opts = ModelOptions(architecture: architecture, values: options)
    let model = try builder(&opts)
    try opts.checkAllUsed()
    model.config = opts.resolved
    return model
  }
}

/// String options of a zoo builder, parsed with one-line errors; records which keys were read so
/// that misspelt options are reported.
public struct ModelOptions: Sendable {
  /// The architecture being built (for messages).
  public let architecture: String
  /// The raw options.
  public let values: [String: String]
  private var used: Set<String> = []
  /// Every option the builder read, with the value it used (defaults included), so that a
  /// checkpoint's config rebuilds the same network even if defaults change later.
  public private(set) var resolved: [String: String] = [:]

  /// Options for `architecture`.
  public init(architecture: String, values: [String: String]) {
    self.architecture = architecture
    self.values = values
  }

  /// The largest integer option value (classes, widths, inputs, sizes) unless a builder sets
  /// another: options come from the command line and from checkpoint files, and a size is
  /// checked before anything is allocated in proportion to it.
  public static let maxValue = 100_000
  /// The most weights one layer of a builder may have (100 M, 0.4 GB as Float32).
  public static let maxLayerWeights = 100_000_000

  /// Throws unless a `rows x columns` weight matrix is at most ``maxLayerWeights`` (checked
  /// arithmetic), naming the options it comes from.
  public func checkLayer(_ rows: Int, _ columns: Int, from keys: String) throws {
    let (weights, overflow) = rows.multipliedReportingOverflow(by: columns)
    guard !overflow, weights <= Self.maxLayerWeights else {
      throw LayerError("\(architecture): options \(keys) make a layer of \(rows) x \(columns) weights, at most \(Self.maxLayerWeights)")
    }
  }

  /// An integer option in `minimum ... maximum` (`default` when absent, required when `default`
  /// is nil).
  public mutating func int(_ key: String, default def: Int? = nil, minimum: Int = 1, maximum: Int = ModelOptions.maxValue) throws -> Int {
    used.insert(key)
    guard let raw = values[key] else {
      if let def {
        resolved[key] = String(def)
        return def
      }
      throw LayerError("\(architecture): missing option '\(key)'")
    }
    guard let v = Int(raw.trimmingCharacters(in: .whitespaces)), v >= minimum, v <= maximum else {
      throw LayerError("\(architecture): option \(key)=\(raw) is not an integer in \(minimum) ... \(maximum)")
    }
    resolved[key] = String(v)
    return v
  }

  /// A comma-separated list of integers (`"64,32"`; empty string = empty list).
  public mutating func intList(_ key: String, default def: [Int]) throws -> [Int] {
    used.insert(key)
    var list = def
    if let raw = values[key] {
      let trimmed = raw.trimmingCharacters(in: .whitespaces)
      let parts = trimmed.isEmpty ? [] : trimmed.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard parts.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= Self.maxValue }) else {
        throw LayerError("\(architecture): option \(key)=\(raw) is not a comma-separated list of integers in 1 ... \(Self.maxValue)")
      }
      list = parts.map { $0! }
    }
    resolved[key] = list.map(String.init).joined(separator: ",")
    return list
  }

  /// A required string option (recorded as given).
  public mutating func string(_ key: String) throws -> String {
    used.insert(key)
    guard let raw = values[key] else { throw LayerError("\(architecture): missing option '\(key)'") }
    resolved[key] = raw
    return raw
  }

  /// A UInt64 option.
  public mutating func seed(_ key: String = "seed") throws -> UInt64 {
    try option(key, default: 0, expected: "a non-negative integer") { UInt64($0) }
  }

  /// A Float option.
  public mutating func float(_ key: String, default def: Float) throws -> Float {
    try option(key, default: def, expected: "a number") { Float($0) }
  }

  /// A Boolean option (`true/false/1/0/yes/no`).
  public mutating func bool(_ key: String, default def: Bool) throws -> Bool {
    try option(key, default: def, expected: "true or false") { raw in
      switch raw.lowercased() {
      case "true", "1", "yes": true
      case "false", "0", "no": false
      default: nil
      }
    }
  }

  /// The option `key` read by `parse` (nil: not `expected`, a one-line error), else `def`;
  /// records it as used and resolved.
  private mutating func option<T: LosslessStringConvertible>(
    _ key: String, default def: T, expected: String, _ parse: (String) -> T?
  ) throws -> T {
    used.insert(key)
    var v = def
    if let raw = values[key] {
      guard let parsed = parse(raw) else { throw LayerError("\(architecture): option \(key)=\(raw) is not \(expected)") }
      v = parsed
    }
    resolved[key] = String(v)
    return v
  }

  /// Throws if an option was given that the builder never read.
  public func checkAllUsed() throws {
    let unknown = Set(values.keys).subtracting(used).sorted()
    if !unknown.isEmpty {
      throw LayerError(
        "\(architecture): unknown option(s) \(unknown.joined(separator: ", ")) (known: \(used.sorted().joined(separator: ", ")))")
    }
  }
}
