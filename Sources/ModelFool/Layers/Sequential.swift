/// Layers applied one after another, `y = f_n(... f_1(x))`, each under a local name: its index
/// ("0", "1", ... as in PyTorch's `nn.Sequential`) unless given explicitly.
///
/// ```swift
/// let net = Sequential {
///   Conv2D(inputChannels: 1, outputChannels: 8, kernelSize: 3, padding: 1)
///   ActivationLayer(.relu)
///   ("pool", GlobalAvgPool2D())
///   Dense(inputSize: 8, outputSize: 10)
/// }
/// // names: "0", "1", "pool", "3"
/// ```
public final class Sequential: Layer {
  /// The entries in call order.
  public private(set) var entries: [(name: String, layer: any Layer)]

  /// Entries with explicit names (unique, non-empty, without dots).
  public init(named entries: [(String, any Layer)]) {
    self.entries = []
    for (n, l) in entries { append(l, named: n) }
  }

  /// Entries named by their index.
  public init(_ layers: [any Layer]) {
    self.entries = []
    for l in layers { append(l) }
  }

  /// Entries from a result builder; unnamed entries are named by their index.
  public init(@LayerBuilder _ build: () -> [(String?, any Layer)]) {
    self.entries = []
    for (n, l) in build() { append(l, named: n) }
  }

  /// Appends `layer` under `name` (its index when `nil`).
  public func append(_ layer: any Layer, named name: String? = nil) {
    let n = name ?? String(entries.count)
    precondition(
      !n.isEmpty && !n.contains(".") && !entries.contains(where: { $0.name == n }),
      "Sequential: entry name '\(n)' is empty, contains a dot or is already used")
    entries.append((n, layer))
  }

  /// The layers without their names.
  public var layers: [any Layer] { entries.map(\.layer) }

  public var children: [(name: String, layer: any Layer)] { entries }

  public func callAsFunction(_ x: Tensor) -> Tensor { callChain(entries, x) }

  public func deepCopy() -> Sequential {
    Sequential(named: entries.map { ($0.name, $0.layer.deepCopy()) })
  }
}

/// Result builder for ``Sequential``: each line is a layer, or a `("name", layer)` pair; `if`,
/// `if/else` and `for` loops are allowed.
@resultBuilder
public enum LayerBuilder {
  public static func buildExpression(_ layer: any Layer) -> [(String?, any Layer)] { [(nil, layer)] }
  public static func buildExpression<L: Layer>(_ entry: (String, L)) -> [(String?, any Layer)] {
    [(entry.0, entry.1)]
  }
  public static func buildExpression(_ entries: [(String?, any Layer)]) -> [(String?, any Layer)] { entries }
  public static func buildBlock(_ parts: [(String?, any Layer)]...) -> [(String?, any Layer)] {
    parts.flatMap { $0 }
  }
  public static func buildOptional(_ part: [(String?, any Layer)]?) -> [(String?, any Layer)] { part ?? [] }
  public static func buildEither(first: [(String?, any Layer)]) -> [(String?, any Layer)] { first }
  public static func buildEither(second: [(String?, any Layer)]) -> [(String?, any Layer)] { second }
  public static func buildArray(_ parts: [[(String?, any Layer)]]) -> [(String?, any Layer)] {
    parts.flatMap { $0 }
  }
}
