import Foundation

/// LIME for tabular rows (Ribeiro et al. 2016, "Why Should I Trust You?"), as the `lime` package's
/// `LimeTabularExplainer` does it with its defaults; docs/METHODS.md §2.12.
///
/// Implementation note: statistics of the reference (training) rows fix, per player, the
/// quartiles of a numeric feature (numpy's linear interpolation) and the frequencies of its four
/// bins, or the frequencies of a one-hot feature's categories. A perturbation draws each player's
/// bin or category from those frequencies, and a numeric value inside its bin from a normal of the
/// bin's mean and standard deviation truncated to the bin. The interpretable representation of a
/// perturbation for the row `x` is binary, `z_g = 1` when player `g` lies in the same bin (or
/// category) as in `x`; the explained row itself is the first sample (all ones). Weights are
/// `sqrt(exp(-d^2 / w^2))`, `d` the Euclidean distance of `z` to all-ones, `w = 0.75 sqrt(M)`, and
/// the coefficients those of a weighted ridge regression (alpha 1) with intercept of the outputs
/// on `z`. The perturbation set is drawn once per seed and shared by all rows (its values do not
/// depend on the row; `lime` draws a new set per row), so for each row the coefficients are a
/// fixed linear map of the model's outputs on the set: differentiable in the weights.

/// Quartile discretisation and sampling statistics of the reference rows (the `lime` package's
/// `QuartileDiscretizer` and category frequencies).
public struct LIMEStatistics: Sendable {
  /// The players (feature groups).
  public let players: [FeatureSpan]
  /// The 25th, 50th and 75th percentiles of each numeric player (empty for one-hot players).
  public let quartiles: [[Double]]
  /// Frequencies of each player's bins (numeric: 4 bins) or categories (one-hot: its width).
  public let frequencies: [[Double]]
  /// Per numeric player and bin: mean, standard deviation (+1e-11), minimum and maximum.
  let binMean: [[Double]], binStd: [[Double]], binMin: [[Double]], binMax: [[Double]]

  /// The statistics of `reference` rows `[R, D]` for `players`.
  /// - Throws: ``ExplanationError`` for an empty or non-finite reference.
  public init(reference: Tensor, players: [FeatureSpan]) throws {
    let d = reference.shape.count == 2 ? reference.shape[1] : -1
    try checkRows(reference, columns: d, what: "reference rows", method: .lime)
    self.players = players
    let r = reference.shape[0], x = reference.detached().scalars
    var quartiles: [[Double]] = [], frequencies: [[Double]] = []
    var mean: [[Double]] = [], std: [[Double]] = [], lo: [[Double]] = [], hi: [[Double]] = []
    for f in players {
      var counts: [Double]
      if f.categories.isEmpty {
        let column = (0..<r).map { Double(x[$0 * d + f.start]) }
        let sorted = column.sorted()
        let q = [25.0, 50, 75].map { p -> Double in
          let pos = p / 100 * Double(r - 1), i = Int(pos.rounded(.down)), t = pos - Double(i)
          return i + 1 < r ? sorted[i] + t * (sorted[i + 1] - sorted[i]) : sorted[i]
        }
        counts = [Double](repeating: 0, count: 4)
        var sums = [[Double]](repeating: [], count: 4)
        for v in column {
          let b = q.filter { $0 < v }.count
          counts[b] += 1
          sums[b].append(v)
        }
        quartiles.append(q)
        mean.append(sums.map { $0.isEmpty ? 0 : $0.reduce(0, +) / Double($0.count) })
        std.append(sums.enumerated().map { b, s in
          let m = s.isEmpty ? 0 : s.reduce(0, +) / Double(s.count)
          return (s.isEmpty ? 0 : (s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(s.count)).squareRoot()) + 1e-11
        })
        lo.append([sorted[0]] + q)
        hi.append(q + [sorted[r - 1]])
      } else {
        counts = [Double](repeating: 0, count: f.width)
        for row in 0..<r {
          if let c = Self.category(x, row: row, columns: d, f) { counts[c] += 1 }
        }
        quartiles.append([]); mean.append([]); std.append([]); lo.append([]); hi.append([])
      }
      let total = counts.reduce(0, +)
      guard total > 0 else { throw ExplanationError("lime: no reference row has a category of feature '\(f.name)'") }
      frequencies.append(counts.map { $0 / total })
    }
    self.quartiles = quartiles
    self.frequencies = frequencies
    (binMean, binStd, binMin, binMax) = (mean, std, lo, hi)
  }

  /// The category of a one-hot player in row `row` of the flat rows `x` (the column holding 1),
  /// or nil when none does.
  static func category(_ x: [Float], row: Int, columns d: Int, _ f: FeatureSpan) -> Int? {
    (0..<f.width).first { x[row * d + f.start + $0] == 1 }
  }

  /// The bin (numeric: the number of quartiles below the value, as `numpy.searchsorted`) or
  /// category (one-hot; -1 when absent) of player `g` in row `row` of the flat rows `x`.
  public func bin(_ x: [Float], row: Int, columns d: Int, player g: Int) -> Int {
    let f = players[g]
    if f.categories.isEmpty {
      let v = Double(x[row * d + f.start])
      var b = 0
      for q in quartiles[g] where q < v { b += 1 }
      return b
    }
    return Self.category(x, row: row, columns: d, f) ?? -1
  }

  /// `count` perturbed rows `[count, D]` drawn with `SeededGenerator(seed:)`: per player a bin or
  /// category from its frequencies, a numeric value from the bin's truncated normal (by rejection;
  /// a bin whose minimum equals its maximum gives its mean).
  public func sample(_ count: Int, columns d: Int, seed: UInt64) -> Tensor {
    var generator = SeededGenerator(seed: seed)
    func uniform() -> Double { Double(generator.next() >> 11) / Double(1 << 53) }
    var out = [Float](repeating: 0, count: count * d)
    for s in 0..<count {
      for (g, f) in players.enumerated() {
        let u = uniform()
        var b = 0, acc = frequencies[g][0]
        while acc <= u && b < frequencies[g].count - 1 { b += 1; acc += frequencies[g][b] }
        while frequencies[g][b] == 0 && b > 0 { b -= 1 }
        if !f.categories.isEmpty {
          out[s * d + f.start + b] = 1
          continue
        }
        let (m, sd, lo, hi) = (binMean[g][b], binStd[g][b], binMin[g][b], binMax[g][b])
        var v = m
        if lo < hi {
          for _ in 0..<1000 {
            // Box-Muller.
            let z = (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * Double.pi * uniform())
            let t = m + sd * z
            if t >= lo && t <= hi { v = t; break }
          }
        }
        out[s * d + f.start] = Float(v)
      }
    }
    return Tensor(shape: [count, d], scalars: out)
  }

  /// The `[S, M]` weighted ridge map of the row `row` of `x` for the perturbations whose bins are
  /// `p` (`[S - 1, M]`; the row itself is sample 0): `coefficients = map^T y` for the outputs `y` `[S]`, with
  /// `map^T = (Xc^T W Xc + I)^{-1} Xc^T W`, `Xc` the binary representation centred by its
  /// weighted mean, `W` the kernel weights.
  func ridgeMap(_ x: [Float], row: Int, perturbationBins p: [Int], samples: Int, columns d: Int) -> [Double] {
    let m = players.count, s = samples
    let own = (0..<m).map { bin(x, row: row, columns: d, player: $0) }
    var z = [Double](repeating: 1, count: s * m)
    for j in 1..<max(s, 1) {
      for g in 0..<m where p[(j - 1) * m + g] != own[g] { z[j * m + g] = 0 }
    }
    let width = 0.75 * Double(m).squareRoot()
    var w = [Double](repeating: 0, count: s)
    for j in 0..<s {
      let d2 = (0..<m).reduce(0.0) { $0 + (1 - z[j * m + $1]) }
      w[j] = exp(-d2 / (width * width)).squareRoot()
    }
    return LIME.ridgeMap(z: z, weights: w, samples: s, players: m)
  }
}

/// LIME of tabular models (image models: ``ImageLIME``).
public enum LIME {
  /// The `[S, M]` map of LIME's weighted ridge regression (alpha 1, with intercept) of outputs
  /// `y` `[S]` on the interpretable samples `z` `[S, M]` with kernel weights `weights` `[S]`:
  /// `coefficients = map^T y`, `map^T = (Zc^T W Zc + I)^{-1} Zc^T W`, `Zc` the samples centred
  /// by their weighted mean, `W` the weights (the `lime` package's `Ridge(alpha=1)` fit).
  static func ridgeMap(z samples: [Double], weights w: [Double], samples s: Int, players m: Int) -> [Double] {
    var z = samples
    let total = w.reduce(0, +)
    let mean = (0..<m).map { g in (0..<s).reduce(0.0) { $0 + w[$1] * z[$1 * m + g] } / total }
    for j in 0..<s { for g in 0..<m { z[j * m + g] -= mean[g] } }
    var a = [Double](repeating: 0, count: m * m)
    var rhs = [Double](repeating: 0, count: m * s)
    for j in 0..<s {
      for g in 0..<m {
        let wz = w[j] * z[j * m + g]
        rhs[g * s + j] = wz
        for h in 0..<m { a[g * m + h] += wz * z[j * m + h] }
      }
    }
    for g in 0..<m { a[g * m + g] += 1 }
    // Positive definite (ridge), so the solve cannot fail.
    let coef = solveLinearSystem(a, rhs, size: m, columns: s)!
    var map = [Double](repeating: 0, count: s * m)
    for g in 0..<m { for j in 0..<s { map[j * m + g] = coef[g * s + j] } }
    return map
  }

  /// The coefficients `[N, M]` of LIME for the rows `x` `[N, D]` and the class of each row, one per
  /// player (the model's feature groups), for the explained output (``BlackBoxOptions/output``),
  /// with the clean logits and the classes.
  ///
  /// - Parameters:
  ///   - perturbations: the perturbed rows `[S - 1, D]` shared by all rows; nil: drawn from the
  ///     statistics of ``Model/explanationReference`` (``BlackBoxOptions/limeSamples`` `- 1` rows,
  ///     `options.seed`).
  /// - Throws: ``ExplanationError`` for a non-tabular input, missing reference rows, bad feature
  ///   groups, perturbations or classes.
  public static func values(
    _ model: Model, _ x: Tensor, classes: [Int]?, perturbations: Tensor? = nil,
    options: ExplanationOptions = ExplanationOptions()
  ) throws -> (values: Tensor, logits: Tensor, classes: [Int], players: [FeatureSpan]) {
    let method = ExplanationMethod.lime
    guard x.rank == 2 else { throw ExplanationError("lime explains tabular rows [N, D], got \(x.shape)") }
    let n = x.shape[0], d = x.shape[1]
    let players = try blackBoxPlayers(model, columns: d, method: method)
    let statistics = try LIMEStatistics(reference: try blackBoxReference(model, columns: d, method: method), players: players)
    let p: Tensor
    if let perturbations {
      try checkRows(perturbations, columns: d, what: "perturbations", method: method)
      p = perturbations.detached()
    } else {
      let count = options.blackBox.limeSamples
      guard count >= 2 else { throw ExplanationError("lime: needs at least 2 samples, got \(count)", settings: ["lime-samples"]) }
      p = statistics.sample(count - 1, columns: d, seed: options.seed)
    }
    let s = p.shape[0] + 1, m = players.count
    let logits = model(x)
    let chosen = try resolveClasses(classes, logits: logits, method: method.rawValue)
    let own = explainedOutput(model, x, classes: chosen, output: options.blackBox.output).reshaped([n, 1])
    // Outputs of every class on the perturbations, then the explained class of each row.
    var parts: [Tensor] = []
    for start in stride(from: 0, to: s - 1, by: max(1, options.blackBox.rowsPerPass)) {
      let rows = p.slice(axis: 0, start..<min(s - 1, start + options.blackBox.rowsPerPass))
      let y = model(rows)
      parts.append(options.blackBox.output == .probability ? y.softmax(alongAxis: -1) : y)
    }
    let outputs = parts.count == 1 ? parts[0] : Tensor.concatenate(parts, alongAxis: 0)
    let picked = Tensor.matmul(Tensor.oneHot(chosen, classes: logits.shape[1]), outputs, transposeB: true)
    let y = Tensor.concatenate([own, picked], alongAxis: 1)
    let xs = x.detached().scalars, ps = p.scalars
    let bins = (0..<(s - 1)).flatMap { j in (0..<m).map { statistics.bin(ps, row: j, columns: d, player: $0) } }
    let rowsPerBlock = max(1, options.blackBox.rowsPerPass / max(s, 1))
    var blocks: [Tensor] = []
    for start in stride(from: 0, to: n, by: rowsPerBlock) {
      let r = start..<min(n, start + rowsPerBlock)
      var maps: [Float] = []
      maps.reserveCapacity(r.count * s * m)
      for row in r {
        maps += statistics.ridgeMap(xs, row: row, perturbationBins: bins, samples: s, columns: d).map(Float.init)
      }
      let yr = y.slice(axis: 0, r).reshaped([r.count, 1, s])
      blocks.append(Tensor.matmul(yr, Tensor(shape: [r.count, s, m], scalars: maps)).reshaped([r.count, m]))
    }
    let values = blocks.count == 1 ? blocks[0] : Tensor.concatenate(blocks, alongAxis: 0)
    return (values, logits, chosen, players)
  }

  /// The ``Explanation`` of LIME: the raw map `[N, D]` holds each player's coefficient on its
  /// column (a one-hot player's on the column of the category present).
  static func explanation(_ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions) throws -> Explanation {
    let r = try values(model, x, classes: classes, options: options)
    let raw = spreadOverColumns(r.values, players: r.players, inputs: x)
    return Explanation(method: .lime, raw: raw, heatmap: raw, logits: r.logits, classes: r.classes, layer: nil)
  }
}
