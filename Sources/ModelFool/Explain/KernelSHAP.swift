/// KernelSHAP (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions") for
/// tabular rows, as docs/METHODS.md §2.11 defines it.
///
/// Implementation note: the players are the model's feature groups. A coalition `z` (1 = player
/// present) turns the explained row `x` and a background row `b` into `x_z = z x + (1 - z) b`
/// column by column; its value is `v(z) = mean_b f(x_z)`, `f` the explained output. The Shapley
/// values are the solution of the weighted least squares
/// `min sum_z k(z) (v(z) - v(0) - z . phi)^2` subject to `sum phi = v(1) - v(0)`, with the
/// Shapley kernel `k(z) = (M - 1) / (C(M, |z|) |z| (M - |z|))` over the coalitions other than the
/// empty and the full one (which enter as the constraint). For a fixed design this solution is a
/// fixed linear map of the values `v`: ``KernelSHAPDesign`` precomputes it in Float64 and the
/// explanation applies it as one constant matrix product to the values, which the engine computed
/// (in batches of at most ``BlackBoxOptions/rowsPerPass`` perturbed rows) from the model. Hence
/// `phi` is differentiable with respect to the weights. Without a graph
/// (``ExplanationOptions/createGraph`` false) the values come from each distinct perturbed row
/// once (``distinctRowValues(_:x:background:design:group:classes:output:rowsPerPass:)``).

/// A KernelSHAP design: the coalitions and the constant linear map from their values to the
/// Shapley values.
public struct KernelSHAPDesign: Sendable {
  /// Number of players `M`.
  public let players: Int
  /// Number of coalitions `S`, the empty (index 0) and the full one (index 1) included.
  public let count: Int
  /// True when every coalition is enumerated (`M <= exactPlayerLimit`); false when sampled.
  public let isExact: Bool
  /// `[S, M]` row-major, 1 where the player is present.
  public let coalitions: [UInt8]
  /// `[S, M]` row-major: `phi = v @ valueMap` for the coalition values `v` `[S]`.
  public let valueMap: [Double]

  /// The design for `players` players: every coalition when `players <= exactPlayerLimit`
  /// (`2^M` of them), else the empty and the full coalition plus `sampled` coalitions drawn in
  /// complementary pairs with `SeededGenerator(seed:)`: a size `s` with probability proportional
  /// to `(M - 1) / (s (M - s))`, then `s` players uniformly, then its complement; sampled
  /// coalitions weigh the same (their kernel weight is in the sampling distribution).
  ///
  /// - Throws: ``ExplanationError`` for no players, too few samples, or a design whose regression
  ///   is singular.
  public init(players m: Int, exactPlayerLimit: Int = 12, sampled: Int = 2048, seed: UInt64 = 0) throws {
    guard m >= 1 else { throw ExplanationError("kernelshap: needs at least one player, got \(m)") }
    guard exactPlayerLimit <= 20 else {
      throw ExplanationError("kernelshap: exact enumeration is limited to 20 players, got a limit of \(exactPlayerLimit)")
    }
    players = m
    isExact = m <= exactPlayerLimit
    var rows: [[UInt8]] = [[UInt8](repeating: 0, count: m), [UInt8](repeating: 1, count: m)]
    var weights: [Double] = []
    if isExact {
      for code in 1..<max(1, (1 << m) - 1) {
        let z = (0..<m).map { UInt8((code >> $0) & 1) }
        let s = z.reduce(0) { $0 + Int($1) }
        rows.append(z)
        weights.append(Double(m - 1) / (binomial(m, s) * Double(s) * Double(m - s)))
      }
    } else {
      guard sampled >= 2 * m else {
        throw ExplanationError("kernelshap: \(m) players need at least \(2 * m) sampled coalitions, got \(sampled)", settings: ["coalitions"])
      }
      var generator = SeededGenerator(seed: seed)
      let sizeWeights = (1..<m).map { Double(m - 1) / (Double($0) * Double(m - $0)) }
      let total = sizeWeights.reduce(0, +)
      for _ in 0..<(sampled / 2) {
        let u = Double(generator.next() >> 11) / Double(1 << 53) * total
        var s = 1, acc = sizeWeights[0]
        while acc < u && s < m - 1 { acc += sizeWeights[s]; s += 1 }
        var order = Array(0..<m)
        for i in 0..<s { order.swapAt(i, i + Int(generator.next() % UInt64(m - i))) }
        var z = [UInt8](repeating: 0, count: m)
        for i in order[..<s] { z[i] = 1 }
        rows.append(z)
        rows.append(z.map { 1 - $0 })
        weights += [1, 1]
      }
    }
    count = rows.count
    coalitions = Array(rows.joined())
    guard let map = Self.solve(players: m, coalitions: rows, weights: weights) else {
      throw ExplanationError("kernelshap: the coalition design does not determine the values (singular regression); draw more coalitions", settings: ["coalitions"])
    }
    valueMap = map
  }

  /// The constrained weighted least squares as a map `[S, M]`, with player `M - 1` eliminated
  /// through the constraint: `X[t, i] = z_ti - z_t(M-1)`, `y_t = v_t - v_0 - z_t(M-1) (v_1 - v_0)`,
  /// `phi_{<M-1} = (X^T K X)^{-1} X^T K y`, `phi_{M-1} = v_1 - v_0 - sum_{i<M-1} phi_i`.
  static func solve(players m: Int, coalitions rows: [[UInt8]], weights: [Double]) -> [Double]? {
    let s = rows.count, k = m - 1, t = weights.count
    var map = [Double](repeating: 0, count: s * m)
    if k > 0 {
      var xtkx = [Double](repeating: 0, count: k * k)
      var xtk = [Double](repeating: 0, count: k * t)
      for j in 0..<t {
        let z = rows[j + 2], last = Double(z[k])
        for i in 0..<k {
          let xi = Double(z[i]) - last
          if xi == 0 { continue }
          xtk[i * t + j] = weights[j] * xi
          for l in 0..<k { xtkx[i * k + l] += weights[j] * xi * (Double(z[l]) - last) }
        }
      }
      guard let a = solveLinearSystem(xtkx, xtk, size: k, columns: t) else { return nil }
      for i in 0..<k {
        for j in 0..<t {
          let c = a[i * t + j], last = Double(rows[j + 2][k])
          map[(j + 2) * m + i] += c
          map[0 * m + i] += -c + c * last
          map[1 * m + i] += -c * last
        }
      }
    }
    for row in 0..<s {
      var rest = row == 1 ? 1.0 : row == 0 ? -1.0 : 0
      for i in 0..<k { rest -= map[row * m + i] }
      map[row * m + k] = rest
    }
    return map
  }
}

/// `C(n, k)` in Float64.
private func binomial(_ n: Int, _ k: Int) -> Double {
  var r = 1.0
  for i in 0..<min(k, n - k) { r = r * Double(n - i) / Double(i + 1) }
  return r
}

/// KernelSHAP of tabular models.
public enum KernelSHAP {
  /// Shapley values `[N, M]` of the explained output (``BlackBoxOptions/output``) of `model` for
  /// the rows `x` `[N, D]`, one per player (``FeatureSpan`` of the model, in its order), for the
  /// class of each row; with the clean logits `[N, classes]` and the classes explained.
  ///
  /// The background is ``BlackBoxOptions/background`` or a seeded sample of the model's
  /// ``Model/explanationReference``; the design is ``KernelSHAPDesign`` with `options.seed`.
  /// - Parameter classes: class per row, or nil for the predicted class.
  /// - Throws: ``ExplanationError`` for a non-tabular input, missing or bad background rows, bad
  ///   feature groups or classes.
  public static func values(
    _ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions = ExplanationOptions()
  ) throws -> (values: Tensor, logits: Tensor, classes: [Int], players: [FeatureSpan]) {
    let method = ExplanationMethod.kernelSHAP
    guard x.rank == 2 else { throw ExplanationError("kernelshap explains tabular rows [N, D], got \(x.shape)") }
    let n = x.shape[0], d = x.shape[1]
    let players = try blackBoxPlayers(model, columns: d, method: method)
    let background = try blackBoxBackground(model, columns: d, options: options, method: method)
    let o = options.blackBox
    let design = try KernelSHAPDesign(
      players: players.count, exactPlayerLimit: o.exactPlayerLimit, sampled: o.coalitions, seed: options.seed)
    let logits = model(x)
    let chosen = try resolveClasses(classes, logits: logits, method: method.rawValue)
    let m = players.count, s = design.count, b = background.shape[0]
    var group = [Int](repeating: 0, count: d)
    for (g, f) in players.enumerated() { for c in f.columns { group[c] = g } }
    if !options.createGraph {
      // No graph wanted: each distinct perturbed row once, the regression in Float64.
      let v = distinctRowValues(
        model, x: x, background: background, design: design, group: group, classes: chosen, output: o.output,
        rowsPerPass: max(1, o.rowsPerPass))
      var phi = [Float](repeating: 0, count: n * m)
      for r in 0..<n {
        for i in 0..<m {
          var sum = 0.0
          for j in 0..<s { sum += v[r * s + j] * design.valueMap[j * m + i] }
          phi[r * m + i] = Float(sum)
        }
      }
      return (Tensor(shape: [n, m], scalars: phi), logits.detached(), chosen, players)
    }
    // Column masks of the coalitions, [1, S, 1, D].
    var masks = [Float](repeating: 0, count: s * d)
    for j in 0..<s { for c in 0..<d { masks[j * d + c] = Float(design.coalitions[j * m + group[c]]) } }
    let allMasks = Tensor(shape: [1, s, 1, d], scalars: masks)
    let bg = background.reshaped([1, 1, b, d])
    let cellsPerPass = max(1, o.rowsPerPass / b)
    // Values v [rows, coalitions] of rows `r` and coalitions `c`.
    func coalitionValues(_ r: Range<Int>, _ c: Range<Int>) -> Tensor {
      let mk = c.count == s ? allMasks : allMasks.slice(axis: 1, c)
      let xr = x.slice(axis: 0, r).reshaped([r.count, 1, 1, d])
      let inputs = (xr * mk + bg * (1 - mk)).reshaped([r.count * c.count * b, d])
      let cls = r.flatMap { [Int](repeating: chosen[$0], count: c.count * b) }
      let y = explainedOutput(model, inputs, classes: cls, output: o.output)
      return y.reshaped([r.count, c.count, b]).mean(alongAxes: [2])
    }
    var blocks: [Tensor] = []
    if s <= cellsPerPass {
      let rowsPerPass = max(1, cellsPerPass / s)
      for start in stride(from: 0, to: n, by: rowsPerPass) {
        blocks.append(coalitionValues(start..<min(n, start + rowsPerPass), 0..<s))
      }
    } else {
      for row in 0..<n {
        var parts: [Tensor] = []
        for start in stride(from: 0, to: s, by: cellsPerPass) {
          parts.append(coalitionValues(row..<(row + 1), start..<min(s, start + cellsPerPass)))
        }
        blocks.append(Tensor.concatenate(parts, alongAxis: 1))
      }
    }
    let v = blocks.count == 1 ? blocks[0] : Tensor.concatenate(blocks, alongAxis: 0)
    let phi = Tensor.matmul(v, Tensor(shape: [s, m], scalars: design.valueMap.map(Float.init)))
    return (phi, logits, chosen, players)
  }

  /// The ``Explanation`` of KernelSHAP: the raw map `[N, D]` holds each player's value on its
  /// column (a one-hot player's on the column of the category present), so that
  /// ``Heatmap/sumPerFeature(_:features:inputs:)`` gives the Shapley values back.
  static func explanation(_ model: Model, _ x: Tensor, classes: [Int]?, options: ExplanationOptions) throws -> Explanation {
    let r = try values(model, x, classes: classes, options: options)
    let raw = spreadOverColumns(r.values, players: r.players, inputs: x)
    return Explanation(method: .kernelSHAP, raw: raw, heatmap: raw, logits: r.logits, classes: r.classes, layer: nil)
  }
}
