import Foundation

/// The scaffolded classifier of Slack et al., "Fooling LIME and SHAP: Adversarial Attacks on Post
/// hoc Explanation Methods" (AIES 2020), as a model kind of the zoo (architecture `scaffold`), so
/// that a scaffold is one checkpoint that `explain`, `evaluate` and `audit` take like any other.
///
/// Implementation note: the three inner models (biased `f`, innocuous `psi`, out-of-distribution
/// detector) are children named `biased`, `innocuous` and `detector`, so their weights are the
/// checkpoint's datasets `biased.0.weight`, ...; their architectures and builder options, the
/// detector's threshold and the seen-value table are JSON in the scaffold's builder options
/// (``ScaffoldModel/options(for:)``), which the checkpoint's `config` stores. The switch is hard:
/// each row's 0/1 decision is computed without recording and enters the forward as a constant,
/// so a gradient (SimpleGrad, IG, fine-tuning) of a row flows through the branch that answered it
/// and never through the detector: gradient explainers see `f` on real rows, which is why the
/// attack targets LIME and KernelSHAP only.

/// The values each numeric feature takes in the train rows: a second test of the scaffold's
/// detector. Counts, ages and amounts lie on a lattice; LIME draws numeric values from a normal
/// inside a quartile bin and KernelSHAP mixes in k-means centres, so their perturbations carry
/// values no real row has. A row counts as real only if every value of a lattice-like numeric
/// column (at most one distinct value per ``rowsPerValue`` train rows: counts, ages, durations;
/// not amounts, where most values are unique and a new row's value is new too) occurs in the
/// train rows (within 1e-5), and the learned detector takes it for real.
public struct SeenValues: Sendable, Codable, Equatable {
  /// One checked column and its sorted distinct train values.
  public struct Column: Sendable, Codable, Equatable {
    public var column: Int
    public var values: [Float]
  }

  /// The checked numeric columns.
  public let columns: [Column]

  /// A numeric column is checked when it has at most one distinct value per this many train rows.
  public static let rowsPerValue = 10

  /// The table of the rows `train` `[N, D]` for the lattice-like numeric features of `features`.
  public init(train: Tensor, features: [FeatureSpan]) {
    let x = train.scalars, n = train.shape[0], d = train.shape[1]
    columns = features.filter { $0.categories.isEmpty }.compactMap { f in
      let values = Array(Set((0..<n).map { x[$0 * d + f.start] })).sorted()
      return values.count * Self.rowsPerValue <= n ? Column(column: f.start, values: values) : nil
    }
  }

  /// Throws unless every column lies in `0 ..< inputs`, appears once, and holds finite values in
  /// strictly increasing order (the table is read from a file).
  public func check(inputs: Int) throws {
    var seen = Set<Int>()
    for c in columns {
      guard c.column >= 0, c.column < inputs, seen.insert(c.column).inserted else {
        throw LayerError("scaffold: seen-value column \(c.column) is outside 0..<\(inputs) or given twice")
      }
      guard c.values.allSatisfy(\.isFinite), zip(c.values, c.values.dropFirst()).allSatisfy({ $0 < $1 }) else {
        throw LayerError("scaffold: the seen values of column \(c.column) are not finite and strictly increasing")
      }
    }
  }

  /// Whether every numeric value of each row of `x` `[N, D]` is one of the train rows' values.
  public func contains(_ x: Tensor) -> [Bool] {
    let v = x.detached().scalars, d = x.shape[1]
    return (0..<x.shape[0]).map { r in
      columns.allSatisfy { c in
        let t = v[r * d + c.column], values = c.values
        var (lo, hi) = (0, values.count)
        while lo < hi { let mid = (lo + hi) / 2; if values[mid] < t - 1e-5 { lo = mid + 1 } else { hi = mid } }
        return lo < values.count && abs(values[lo] - t) <= 1e-5
      }
    }
  }
}

/// The scaffolded classifier `e(x)`: the biased model's logits where the detector's probability of
/// "real row" (class 0) is at least ``threshold`` (and, with ``seenValues``, every numeric value of
/// the row occurs in the train rows), the innocuous model's elsewhere.
public final class ScaffoldNetwork: Layer {
  /// `f`, decides from the sensitive feature.
  public let biased: Model
  /// `psi`, decides from the decoy (or innocuous) feature(s).
  public let innocuous: Model
  /// The out-of-distribution detector: class 0 real rows, class 1 perturbations.
  public let detector: Model
  /// The detector's probability of class 0 at and above which a row counts as real.
  public let threshold: Float
  /// The numeric values of the train rows, or nil for the learned detector alone.
  public let seenValues: SeenValues?

  public init(biased: Model, innocuous: Model, detector: Model, threshold: Float = 0.5, seenValues: SeenValues? = nil) {
    self.biased = biased
    self.innocuous = innocuous
    self.detector = detector
    self.threshold = threshold
    self.seenValues = seenValues
  }

  /// Whether the detector (and ``seenValues``) take each row of `x` `[N, D]` for a real row.
  public func inDistribution(_ x: Tensor) -> [Bool] {
    let p = withoutRecording { detector(x.detached()).softmax(alongAxis: -1) }.scalars
    let seen = seenValues?.contains(x) ?? [Bool](repeating: true, count: x.shape[0])
    return (0..<x.shape[0]).map { p[$0 * 2] >= threshold && seen[$0] }
  }

  /// `m f(x) + (1 - m) psi(x)` on the logits, `m` the detector's 0/1 decision per row (a
  /// constant of the graph: see the implementation note of ``ScaffoldModel``).
  public func callAsFunction(_ x: Tensor) -> Tensor {
    let m = Tensor(shape: [x.shape[0], 1], scalars: inDistribution(x).map { $0 ? 1 : 0 })
    return biased(x) * m + innocuous(x) * (1 - m)
  }

  public var children: [(name: String, layer: any Layer)] {
    [("biased", biased), ("innocuous", innocuous), ("detector", detector)]
  }

  public func deepCopy() -> ScaffoldNetwork {
    ScaffoldNetwork(
      biased: biased.deepCopy(), innocuous: innocuous.deepCopy(), detector: detector.deepCopy(), threshold: threshold,
      seenValues: seenValues)
  }

  /// The scaffold as a ``Model`` of architecture ``ScaffoldModel/architecture`` with the names and
  /// reference rows of `biased`, for the explainers and checkpoints.
  public func model() -> Model {
    let m = Model(network: self, architecture: ScaffoldModel.architecture, config: ScaffoldModel.options(for: self), inputShape: biased.inputShape)
    m.classNames = biased.classNames
    m.featureNames = biased.featureNames
    m.featureGroupsJSON = biased.featureGroupsJSON
    m.preprocessing = biased.preprocessing
    m.explanationReference = biased.explanationReference
    return m
  }
}

/// The zoo entry of scaffolds (architecture `scaffold`). Builder options:
///
/// | option | content |
/// |---|---|
/// | `biased`, `innocuous`, `detector` | JSON `{"architecture": NAME, "config": {builder options}}` of each inner model |
/// | `threshold` | the detector's probability of "real" at and above which a row is real (0 ... 1) |
/// | `seen` | JSON list of ``SeenValues/Column`` (`[]`: the learned detector alone) |
///
/// The inner models take the same rows (one input axis of equal width); `f` and `psi` give the
/// same number of classes, the detector two. An inner model may not itself be a scaffold.
public enum ScaffoldModel {
  /// The architecture name.
  public static let architecture = "scaffold"

  /// One inner model's entry in the options.
  struct Part: Codable {
    var architecture: String
    var config: [String: String]
  }

  /// The builder options that rebuild `network`'s structure (weights apart).
  public static func options(for network: ScaffoldNetwork) -> [String: String] {
    func json<T: Encodable>(_ value: T) -> String {
      let encoder = JSONEncoder()
      encoder.outputFormatting = .sortedKeys
      return String(decoding: try! encoder.encode(value), as: UTF8.self)  // plain strings and numbers always encode
    }
    var out = ["threshold": "\(network.threshold)", "seen": json(network.seenValues?.columns ?? [])]
    for (name, m) in [("biased", network.biased), ("innocuous", network.innocuous), ("detector", network.detector)] {
      out[name] = json(Part(architecture: m.architecture, config: m.config))
    }
    return out
  }

  /// The zoo builder (see the type's table).
  static func build(_ o: inout ModelOptions) throws -> Model {
    func part(_ key: String) throws -> Model {
      let text = try o.string(key)
      guard let p = try? JSONDecoder().decode(Part.self, from: Data(text.utf8)) else {
        throw LayerError("\(architecture): option \(key) is not {\"architecture\": NAME, \"config\": {...}}: \(text.prefix(80))")
      }
      guard p.architecture != architecture else { throw LayerError("\(architecture): the \(key) model may not itself be a scaffold") }
      do { return try ModelZoo.build(architecture: p.architecture, options: p.config) } catch let error as LayerError {
        throw LayerError("\(architecture): \(key) model: \(error.message)")
      }
    }
    let (f, psi, detector) = (try part("biased"), try part("innocuous"), try part("detector"))
    let threshold = try o.float("threshold", default: 0.5)
    guard threshold >= 0, threshold <= 1 else { throw LayerError("\(architecture): option threshold=\(threshold) is not in 0 ... 1") }
    let seenText = try o.string("seen")
    guard let columns = try? JSONDecoder().decode([SeenValues.Column].self, from: Data(seenText.utf8)) else {
      throw LayerError("\(architecture): option seen is not a list of {\"column\": N, \"values\": [...]}: \(seenText.prefix(80))")
    }
    guard f.inputShape.count == 1, f.inputShape == psi.inputShape, f.inputShape == detector.inputShape else {
      throw LayerError("\(architecture): the inner models take rows of different shapes (biased \(f.inputShape), innocuous \(psi.inputShape), detector \(detector.inputShape))")
    }
    let d = f.inputShape[0]
    let row = Tensor(shape: [1, d], scalars: [Float](repeating: 0, count: d))
    let (kf, kpsi, kdet) = withoutRecording { (f(row).shape, psi(row).shape, detector(row).shape) }
    guard kf == kpsi, kf.count == 2, kdet == [1, 2] else {
      throw LayerError("\(architecture): the biased and innocuous models must give the same number of classes and the detector two (outputs \(kf), \(kpsi), \(kdet))")
    }
    let seen = columns.isEmpty ? nil : SeenValues(columns: columns)
    try seen?.check(inputs: d)
    return ScaffoldNetwork(biased: f, innocuous: psi, detector: detector, threshold: threshold, seenValues: seen).model()
  }
}

extension SeenValues {
  /// A table of the given columns (checked by ``check(inputs:)`` before use).
  init(columns: [Column]) { self.columns = columns }
}
