/// What the black-box explainers (KernelSHAP, LIME; docs/METHODS.md §2.11-2.12) share: their
/// options, their players (a tabular model's feature groups), the background and training rows
/// they perturb with, and the batched evaluation of the explained output on perturbed rows.
///
/// Implementation note: both methods fix a design first (coalitions and background rows, or a
/// perturbation set) without looking at the model, then evaluate the model on every perturbed row
/// with ordinary engine ops and apply a constant linear map, precomputed in Float64, to those
/// outputs. The explanation is therefore a differentiable function of the weights (and of the
/// explained rows), like every other map of this module.

/// The output of the model that a black-box explainer explains.
public enum ExplainedOutput: String, Codable, Sendable, CaseIterable {
  /// The softmax probability of the explained class (the default; what `shap` and `lime` see
  /// through `predict_proba`).
  case probability
  /// The pre-softmax logit of the explained class.
  case logit
}

/// Options of the black-box explainers; the defaults are those of docs/METHODS.md §2.11-2.12.
public struct BlackBoxOptions: Sendable {
  /// The explained output (probability of the explained class).
  public var output = ExplainedOutput.probability
  /// Background rows `[B, D]` for KernelSHAP; nil: a seeded sample of ``backgroundSize`` rows of
  /// the reference rows (``Model/explanationReference``).
  public var background: Tensor? = nil
  /// Rows of the seeded background sample (100).
  public var backgroundSize = 100
  /// KernelSHAP enumerates every coalition up to this many players (12), and samples beyond.
  public var exactPlayerLimit = 12
  /// KernelSHAP: coalitions drawn (in complementary pairs) when there are more players than
  /// ``exactPlayerLimit`` (2048), besides the empty and the full coalition.
  public var coalitions = 2048
  /// LIME: perturbed rows, the explained row included (5000, lime's default).
  public var limeSamples = 5000
  /// Image LIME: perturbed images, the explained image included (1000, lime's image default).
  public var limeImageSamples = 1000
  /// Upper bound on the perturbed rows of one forward pass (65,536).
  public var rowsPerPass = 65_536

  /// The defaults.
  public init() {}

  /// The design that fine-tuning differentiates (docs/METHODS.md §2.11): a background of 10 rows,
  /// every coalition up to 8 players (256) and 256 sampled beyond, and 500 LIME samples, so that a
  /// step's perturbed rows stay within memory and time; scoring uses the defaults, drawn with
  /// another seed.
  public static var fineTuning: BlackBoxOptions {
    var o = BlackBoxOptions()
    o.backgroundSize = 10
    o.exactPlayerLimit = 8
    o.coalitions = 256
    o.limeSamples = 500
    o.limeImageSamples = 100
    return o
  }
}

/// The players of a tabular model: its feature groups (a one-hot feature's columns are one
/// player), or one player per column when the model names none.
func blackBoxPlayers(_ model: Model, columns d: Int, method: ExplanationMethod) throws -> [FeatureSpan] {
  let spans = try FeatureSpan.features(of: model)
  if spans.isEmpty { return (0..<d).map { FeatureSpan(name: "x\($0)", start: $0, width: 1) } }
  var covered = [Bool](repeating: false, count: d)
  for f in spans {
    guard f.width > 0, f.start >= 0, f.start + f.width <= d else {
      throw ExplanationError("\(method): feature '\(f.name)' columns \(f.start)..<\(f.start + f.width) outside the model's \(d) inputs")
    }
    for c in f.columns {
      guard !covered[c] else { throw ExplanationError("\(method): column \(c) belongs to two features") }
      covered[c] = true
    }
  }
  guard covered.allSatisfy({ $0 }) else {
    throw ExplanationError("\(method): the model's feature groups do not cover all \(d) input columns")
  }
  return spans
}

/// The reference (training) rows of a black-box explanation, checked: `[R, D]`, finite, `R > 0`.
func blackBoxReference(_ model: Model, columns d: Int, method: ExplanationMethod) throws -> Tensor {
  guard let r = model.explanationReference else {
    throw ExplanationError("\(method) needs reference rows (the training split) to draw its background and statistics from; none were given for model '\(model.architecture)'")
  }
  try checkRows(r, columns: d, what: "reference rows", method: method)
  return r.detached()
}

/// Checks that `rows` is `[R, d]` with `R > 0` and finite values.
func checkRows(_ rows: Tensor, columns d: Int, what: String, method: ExplanationMethod) throws {
  guard rows.rank == 2, rows.shape[1] == d, rows.shape[0] > 0 else {
    throw ExplanationError("\(method): \(what) have shape \(rows.shape), need [R, \(d)] with R > 0")
  }
  guard rows.scalars.allSatisfy(\.isFinite) else { throw ExplanationError("\(method): \(what) hold NaN or infinite values") }
}

/// The KernelSHAP background: `options.background` when given, else `size` rows of `reference`
/// drawn without replacement with `SeededGenerator(seed:)` (all of them when there are fewer).
func blackBoxBackground(
  _ model: Model, columns d: Int, options: ExplanationOptions, method: ExplanationMethod
) throws -> Tensor {
  if let b = options.blackBox.background {
    try checkRows(b, columns: d, what: "background rows", method: method)
    guard b.shape[0] <= 10_000 else { throw ExplanationError("\(method): \(b.shape[0]) background rows, at most 10,000", settings: ["background"]) }
    return b.detached()
  }
  let reference = try blackBoxReference(model, columns: d, method: method)
  let size = options.blackBox.backgroundSize
  guard size > 0 else { throw ExplanationError("\(method): the background size must be positive, got \(size)", settings: ["background-size"]) }
  let r = reference.shape[0]
  if size >= r { return reference }
  var generator = SeededGenerator(seed: options.seed)
  var order = Array(0..<r)
  for i in 0..<size { order.swapAt(i, i + Int(generator.next() % UInt64(r - i))) }
  return reference.selectingRows(Array(order[..<size]))
}

/// The explained output (``ExplainedOutput``) of `model` on `rows` `[R, D]` for the class of each
/// row, `[R]`.
func explainedOutput(_ model: Model, _ rows: Tensor, classes: [Int], output: ExplainedOutput) -> Tensor {
  let logits = model(rows)
  let y = output == .probability ? logits.softmax(alongAxis: -1) : logits
  return y.gathered(rowIndices: classes)
}

/// The `[G, D]` 0/1 membership matrix of `players` over `d` columns.
func membership(_ players: [FeatureSpan], columns d: Int) -> [Double] {
  var m = [Double](repeating: 0, count: players.count * d)
  for (g, f) in players.enumerated() { for c in f.columns { m[g * d + c] = 1 } }
  return m
}

/// Spreads per-player values `[N, G]` back onto the columns `[N, D]`: a numeric player's value on
/// its column, a one-hot player's value on the column of the category present in the row (the
/// inverse of ``Heatmap/sumPerFeature(_:features:inputs:)``, which reads it back exactly).
func spreadOverColumns(_ values: Tensor, players: [FeatureSpan], inputs: Tensor) -> Tensor {
  let n = inputs.shape[0], d = inputs.shape[1]
  let m = membership(players, columns: d).map(Float.init)
  var categorical = [Bool](repeating: false, count: d)
  for f in players where !f.categories.isEmpty { for c in f.columns { categorical[c] = true } }
  let x = inputs.detached().scalars
  let present = (0..<(n * d)).map { i -> Float in categorical[i % d] && x[i] == 0 ? 0 : 1 }
  return Tensor.matmul(values, Tensor(shape: [players.count, d], scalars: m)) * Tensor(shape: [n, d], scalars: present)
}

/// Solves `A x = b` for a symmetric positive definite `A` (`k x k`, row-major) with several
/// right-hand sides `b` (`k x r`), by Gaussian elimination with partial pivoting in Float64.
/// Returns nil when `A` is (numerically) singular.
func solveLinearSystem(_ a: [Double], _ b: [Double], size k: Int, columns r: Int) -> [Double]? {
  var a = a, b = b
  let scale = a.map(abs).max() ?? 0
  guard scale > 0 || k == 0 else { return nil }
  for col in 0..<k {
    var pivot = col
    for row in (col + 1)..<max(k, col + 1) where abs(a[row * k + col]) > abs(a[pivot * k + col]) { pivot = row }
    guard abs(a[pivot * k + col]) > 1e-12 * scale else { return nil }
    if pivot != col {
      for j in 0..<k { a.swapAt(col * k + j, pivot * k + j) }
      for j in 0..<r { b.swapAt(col * r + j, pivot * r + j) }
    }
    let p = a[col * k + col]
    for row in (col + 1)..<max(k, col + 1) {
      let f = a[row * k + col] / p
      if f == 0 { continue }
      for j in col..<k { a[row * k + j] -= f * a[col * k + j] }
      for j in 0..<r { b[row * r + j] -= f * b[col * r + j] }
    }
  }
  var x = [Double](repeating: 0, count: k * r)
  for row in stride(from: k - 1, through: 0, by: -1) {
    for j in 0..<r {
      var s = b[row * r + j]
      for c in (row + 1)..<max(k, row + 1) { s -= a[row * k + c] * x[c * r + j] }
      x[row * r + j] = s / a[row * k + row]
    }
  }
  return x
}
