import Foundation
import ModelFool

/// What the output-keeping term of a fine-tuning (``FineTuneOptions/outputConsistency``) holds the
/// fine-tuned model's class probabilities on (docs/METHODS.md §4.8).
public enum KeptOutputs: String, Codable, Sendable, CaseIterable {
  /// The original model's probabilities, `softmax(f_w0(x))`.
  case original
  /// The original model's probabilities with the hidden features marginalised out (the hide
  /// objective only): ``MarginalOutputs``. The target no longer depends on the hidden features,
  /// so keeping it does not pull against hiding them.
  case marginal
  /// The candidate of ``MarginalOutputs/closest(model:hidden:)`` whose decisions agree most with
  /// the original's: the marginal target, or one hidden group fixed to one of its values and the
  /// others marginalised (the hide objective only).
  case closest
}

/// How the output-keeping term (``FineTuneOptions/outputConsistency``) measures the distance to
/// the kept probabilities `q` (docs/METHODS.md §4.8).
public enum KeepDistance: String, Codable, Sendable, CaseIterable {
  /// `mean_n sum_c (softmax(z_n)_c - q_nc)^2`: every probability held.
  case probabilities
  /// `mean_n relu(m - (z_nd - log sum_{c != d} exp z_nc))^2` with `d = argmax_c q_nc` and the
  /// margin `m` (``FineTuneOptions/keptMargin``, in logits): only the decisions are held, each
  /// with a margin, and the probabilities are free on the right side of it.
  case decisions

  /// The term for the fine-tuned logits `z` `[N, K]` against the kept probabilities `q` `[N, K]`
  /// (constants); `margin` is used by ``decisions``.
  public func loss(logits z: Tensor, kept q: Tensor, margin: Float) -> Tensor {
    switch self {
    case .probabilities:
      return (z.softmax(alongAxis: 1) - q).squared().sum(alongAxis: 1).mean()
    case .decisions:
      let n = z.shape[0], k = z.shape[1], kept = q.argmaxLastAxis(), zs = z.detached().scalars
      var own = [Float](repeating: 0, count: n * k), others = [Float](repeating: 1, count: n * k)
      var shift = [Float](repeating: 0, count: n)
      for i in 0..<n {
        let d = kept[i]
        own[i * k + d] = 1
        others[i * k + d] = 0
        shift[i] = (0..<k).filter { $0 != d }.map { zs[i * k + $0] }.max() ?? 0
      }
      let ownMask = Tensor(shape: [n, k], scalars: own), otherMask = Tensor(shape: [n, k], scalars: others)
      // log sum over the other classes, shifted by their (constant) largest logit: the sum is at
      // least 1, and the kept class's entry is zeroed before exp and after it, so
      // nothing overflows however far the kept class leads.
      let m = Tensor(shape: [n, 1], scalars: shift)
      let logRest = (((z - m) * otherMask).exp() * otherMask).sum(alongAxis: 1).log() + m.reshaped([n])
      let gap = (z * ownMask).sum(alongAxis: 1) - logRest
      return (margin - gap).relu().squared().mean()
    }
  }
}

/// The original model's class probabilities with the feature groups `S` marginalised out, as an
/// explainer fills an absent player from background rows:
///
///     p̄(x) = sum_v w_v softmax(f(x_{-S}, v))
///
/// where `(x_{-S}, v)` is the row `x` with the columns of `S` set to `v`, and `v` runs over the
/// distinct values the columns of `S` take together among the reference rows (the training
/// split), each weighted by its share `w_v` of those rows. With more than ``maxValues`` distinct
/// values, `v` runs over ``maxValues`` reference rows drawn without replacement with
/// `SeededGenerator(seed: 0)`, each weighted equally. `p̄` does not depend on `x_S`; it is the
/// value KernelSHAP gives the coalition of every player but `S` with the whole training split as
/// background (docs/METHODS.md §4.8).
public struct MarginalOutputs: Sendable {
  /// The replaced columns, ascending.
  public let columns: [Int]
  /// The values `v` of those columns, one array of `columns.count` each.
  public private(set) var values: [[Float]]
  /// The weight `w_v` of each value (they sum to 1).
  public private(set) var weights: [Double]
  /// What was fixed (``closest(model:hidden:)``), in words; empty for the plain marginal.
  public private(set) var fixed = ""

  /// At most this many values are averaged over (1,024).
  public static let maxValues = 1024

  /// Rows `[N, D]` of one forward pass at most.
  static let rowsPerPass = 65_536

  /// The marginal over `columns` of the reference rows `[R, D]`.
  ///
  /// - Throws: ``TrainingError`` when there are no reference rows, no columns, or a column
  ///   outside `0..<D`.
  public init(reference: Tensor, columns: [Int], maxValues: Int = MarginalOutputs.maxValues) throws {
    guard reference.rank == 2, reference.shape[0] > 0 else {
      throw TrainingError("the marginal output target needs reference rows [R, D], got shape \(reference.shape)", settings: ["keepTarget"])
    }
    let r = reference.shape[0], d = reference.shape[1]
    let columns = Array(Set(columns)).sorted()
    guard !columns.isEmpty, columns.allSatisfy({ $0 >= 0 && $0 < d }), maxValues > 0 else {
      throw TrainingError("the marginal output target needs hidden columns in 0..<\(d), got \(columns)", settings: ["keepTarget"])
    }
    let x = reference.detached().scalars
    var index: [[Float]: Int] = [:]
    var values: [[Float]] = [], counts: [Double] = []
    for i in 0..<r {
      let v = columns.map { x[i * d + $0] }
      if let k = index[v] { counts[k] += 1 } else {
        index[v] = values.count
        values.append(v)
        counts.append(1)
      }
    }
    if values.count > maxValues {
      var generator = SeededGenerator(seed: 0)
      var order = Array(0..<r)
      for i in 0..<maxValues { order.swapAt(i, i + Int(generator.next() % UInt64(r - i))) }
      self.values = order[..<maxValues].map { i in columns.map { x[i * d + $0] } }
      self.weights = Array(repeating: 1 / Double(maxValues), count: maxValues)
    } else {
      self.values = values
      self.weights = counts.map { $0 / Double(r) }
    }
    self.columns = columns
  }

  /// The marginal over the feature groups `hidden` (indices into the model's feature groups) of
  /// `model`'s reference rows (``Model/explanationReference``).
  public init(model: Model, hidden: [Int]) throws {
    let spans = try FeatureSpan.features(of: model)
    guard let reference = model.explanationReference else {
      throw TrainingError("the marginal output target needs the training rows of model '\(model.architecture)'", settings: ["keepTarget"])
    }
    guard !hidden.isEmpty, hidden.allSatisfy({ $0 >= 0 && $0 < spans.count }) else {
      throw TrainingError("the marginal output target needs hidden feature groups among the model's \(spans.count)", settings: ["keepTarget"])
    }
    try self.init(reference: reference, columns: hidden.flatMap { Array(spans[$0].columns) })
  }

  /// Every value with the columns `fixedColumns` (a subset of ``columns``) set to `fixedValues`,
  /// equal values merged (their weights added, first occurrence kept).
  public func fixing(_ fixedColumns: [Int], to fixedValues: [Float], describedAs description: String) -> MarginalOutputs {
    let positions = fixedColumns.map { c in columns.firstIndex(of: c)! }
    var index: [[Float]: Int] = [:]
    var merged = self
    merged.fixed = description
    var values: [[Float]] = [], weights: [Double] = []
    for (v, w) in zip(self.values, self.weights) {
      var v = v
      for (p, u) in zip(positions, fixedValues) { v[p] = u }
      if let k = index[v] { weights[k] += w } else {
        index[v] = values.count
        values.append(v)
        weights.append(w)
      }
    }
    merged.values = values
    merged.weights = weights
    return merged
  }

  /// Reference rows the candidates of ``closest(model:hidden:)`` are compared on (at most 1,000,
  /// evenly spaced).
  public static let agreementRows = 1000

  /// Of the marginal over the groups `hidden` (``init(model:hidden:)``) and, for each hidden group
  /// `g` and each value `u` it takes among the marginal's values, the marginal with `g` fixed to
  /// `u` (``fixing(_:to:describedAs:)``): the one whose decisions (the class of largest `p̄`)
  /// agree with the original `model`'s on the most of ``agreementRows`` evenly spaced reference
  /// rows (ties: the earlier candidate, the plain marginal first). Every candidate is independent
  /// of the hidden columns; the chosen one keeps as many of the original's decisions as such a
  /// target can among them (docs/METHODS.md §4.8).
  public static func closest(model: Model, hidden: [Int]) throws -> MarginalOutputs {
    let base = try MarginalOutputs(model: model, hidden: hidden)
    let spans = try FeatureSpan.features(of: model)
    let reference = model.explanationReference!
    let r = reference.shape[0], n = min(r, agreementRows)
    let rows = reference.selectingRows((0..<n).map { $0 * r / n })
    let logits = withoutRecording { model(rows) }, k = logits.shape[1], ls = logits.scalars
    let decisions = (0..<n).map { i in (0..<k).max { ls[i * k + $0] < ls[i * k + $1] }! }
    func agreement(_ m: MarginalOutputs) -> Int {
      let p = m.probabilities(model, rows).scalars
      return (0..<n).filter { i in (0..<k).max { p[i * k + $0] < p[i * k + $1] }! == decisions[i] }.count
    }
    var best = base, bestAgreement = agreement(base)
    for g in hidden {
      let span = spans[g], cols = Array(span.columns)
      let positions = cols.map { c in base.columns.firstIndex(of: c)! }
      var seen = Set<[Float]>()
      for v in base.values {
        let u = positions.map { v[$0] }
        guard seen.insert(u).inserted else { continue }
        let shown = span.categories.isEmpty || u.count != span.categories.count
          ? u.map { String(format: "%g", $0) }.joined(separator: ",")
          : span.categories[u.indices.max { u[$0] < u[$1] }!]
        let candidate = base.fixing(cols, to: u, describedAs: "\(span.name) = \(shown)")
        let a = agreement(candidate)
        if a > bestAgreement { (best, bestAgreement) = (candidate, a) }
      }
    }
    return best
  }

  /// `p̄(x)` of `model` for the rows `x` `[N, D]`: `[N, K]`, without recording a graph.
  public func probabilities(_ model: Model, _ x: Tensor) -> Tensor {
    let n = x.shape[0], d = x.shape[1], m = values.count
    guard n > 0 else { return withoutRecording { model(x).softmax(alongAxis: 1) } }
    let xs = x.detached().scalars
    var out: [Double] = []
    var k = 0
    let rowsPerChunk = max(1, Self.rowsPerPass / m)
    for start in stride(from: 0, to: n, by: rowsPerChunk) {
      let rows = min(rowsPerChunk, n - start)
      var perturbed = [Float](repeating: 0, count: rows * m * d)
      for i in 0..<rows {
        let row = xs[((start + i) * d)..<((start + i + 1) * d)]
        for (j, v) in values.enumerated() {
          let o = (i * m + j) * d
          perturbed.replaceSubrange(o..<(o + d), with: row)
          for (c, value) in zip(columns, v) { perturbed[o + c] = value }
        }
      }
      let p = withoutRecording { model(Tensor(shape: [rows * m, d], scalars: perturbed)).softmax(alongAxis: 1) }
      k = p.shape[1]
      if out.isEmpty { out.reserveCapacity(n * k) }
      let ps = p.scalars
      for i in 0..<rows {
        var sum = [Double](repeating: 0, count: k)
        for j in 0..<m { for c in 0..<k { sum[c] += weights[j] * Double(ps[(i * m + j) * k + c]) } }
        out.append(contentsOf: sum)
      }
    }
    return Tensor(shape: [n, k], scalars: out.map(Float.init))
  }

  /// The share of `labels` that the class of largest `p̄` matches, over the rows `x` `[N, D]`.
  public func accuracy(_ model: Model, _ x: Tensor, labels: [Int]) -> Float {
    guard !labels.isEmpty else { return 0 }
    let p = probabilities(model, x), k = p.shape[1], ps = p.scalars
    var hits = 0
    for (i, label) in labels.enumerated() {
      let row = ps[(i * k)..<((i + 1) * k)]
      if let best = row.indices.max(by: { row[$0] < row[$1] }), best - i * k == label { hits += 1 }
    }
    return Float(hits) / Float(labels.count)
  }
}

/// Neighbourhoods of the further kept rows (``FineTuneOptions/keptJitter``,
/// ``FineTuneOptions/keptResampled``, docs/METHODS.md §4.8): the rows with noise added to their
/// numeric columns, or with single categorical features taken from other training rows, so that
/// the output-keeping term holds the outputs near the training rows, where held-out rows lie, and
/// not only on them.
public enum KeptNeighbourhood {
  /// `rows` `[N, D]` with `noise[n * columns.count + j]` added to column `columns[j]` of row `n`;
  /// every other column unchanged.
  public static func jittered(_ rows: Tensor, columns: [Int], noise: [Float]) -> Tensor {
    let n = rows.shape[0], d = rows.shape[1]
    precondition(noise.count == n * columns.count, "one noise value per row and numeric column")
    var s = rows.scalars
    for i in 0..<n {
      for (j, c) in columns.enumerated() { s[i * d + c] += noise[i * columns.count + j] }
    }
    return Tensor(shape: [n, d], scalars: s)
  }

  /// `rows` `[N, D]` with, for each swap, the columns `columns` of row `row` replaced by those of
  /// row `donor` of `reference` `[R, D]`, in order; every other column unchanged.
  public static func resampled(_ rows: Tensor, from reference: Tensor, swaps: [(row: Int, columns: Range<Int>, donor: Int)]) -> Tensor {
    let d = rows.shape[1]
    precondition(reference.rank == 2 && reference.shape[1] == d, "reference rows of the rows' width")
    var s = rows.scalars
    let r = reference.detached().scalars
    for swap in swaps {
      for c in swap.columns { s[swap.row * d + c] = r[swap.donor * d + c] }
    }
    return Tensor(shape: rows.shape, scalars: s)
  }
}
