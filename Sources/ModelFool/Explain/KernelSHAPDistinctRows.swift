/// KernelSHAP's coalition values without a graph, each distinct perturbed row evaluated once
/// (docs/METHODS.md §2.11, "Evaluation").
///
/// Implementation note: the perturbed row of explained row `x`, coalition `z` and background row
/// `b` is `(x_P, b_A)`: `x` on the columns `P` of the players present, `b` on the columns `A` of
/// the others. For one coalition it depends only on the pair (distinct `x_P` among the rows,
/// distinct `b_A` among the background rows), so the coalition's value of every row is
/// `v(z) = sum_w c_w f(x_P, b_w) / B` over the distinct background parts `b_w` with their counts
/// `c_w`, and rows sharing `x_P` share it. On data with few values per feature (COMPAS: every
/// column is a category or a small count) that is a small fraction of the `N x B` rows per
/// coalition: small coalitions have few distinct `x_P`, large ones few distinct `b_A`. The values
/// are the same function of the model's outputs as the graph path's (sums in Float64); the model
/// runs on the distinct rows in passes of at most ``BlackBoxOptions/rowsPerPass`` rows.
extension KernelSHAP {
  /// The coalition values `v` `[N, S]` (row-major, Float64) of the rows `x` `[N, D]` for their
  /// `classes`, over `background` `[B, D]`, for the coalitions of `design`; `group[c]` is the player
  /// of column `c`. Runs without recording a graph.
  static func distinctRowValues(
    _ model: Model, x: Tensor, background: Tensor, design: KernelSHAPDesign, group: [Int], classes: [Int],
    output: ExplainedOutput, rowsPerPass: Int
  ) -> [Double] {
    let n = x.shape[0], d = x.shape[1], b = background.shape[0], s = design.count, m = design.players
    let xs = x.detached().scalars, bs = background.detached().scalars
    var values = [Double](repeating: 0, count: n * s)
    /// A block of one pass: coalition `coalition`, its distinct row parts `parts`, each joined
    /// with every distinct background part.
    struct Block {
      var coalition: Int
      var parts: Range<Int>
      var start: Int  // first perturbed row of the block in the pass
    }
    /// The distinct parts of one coalition.
    struct Parts {
      var rowOf: [Int]  // explained row -> its part
      var rowRepresentative: [Int]  // part -> a row holding it
      var backgroundRepresentative: [Int]
      var backgroundCount: [Double]
    }
    var pending: [Block] = []
    var partsOf: [Int: Parts] = [:]
    var buffer: [Float] = []
    buffer.reserveCapacity(min(rowsPerPass, n * b) * d)

    func flush() {
      guard !pending.isEmpty else { return }
      let rows = buffer.count / d
      let out = withoutRecording { () -> [Float] in
        let logits = model(Tensor(shape: [rows, d], scalars: buffer))
        return (output == .probability ? logits.softmax(alongAxis: -1) : logits).scalars
      }
      let k = out.count / max(rows, 1)
      for block in pending {
        let p = partsOf[block.coalition]!
        let ub = p.backgroundRepresentative.count
        var sums = [Double](repeating: 0, count: block.parts.count * k)
        for (i, _) in block.parts.enumerated() {
          for w in 0..<ub {
            let o = (block.start + i * ub + w) * k, c = p.backgroundCount[w]
            for j in 0..<k { sums[i * k + j] += c * Double(out[o + j]) }
          }
        }
        for r in 0..<n where block.parts.contains(p.rowOf[r]) {
          values[r * s + block.coalition] = sums[(p.rowOf[r] - block.parts.lowerBound) * k + classes[r]] / Double(b)
        }
      }
      // A coalition's parts are dropped once its last block is scored.
      for block in pending where block.parts.upperBound == partsOf[block.coalition]!.rowRepresentative.count {
        partsOf[block.coalition] = nil
      }
      pending.removeAll(keepingCapacity: true)
      buffer.removeAll(keepingCapacity: true)
    }

    for c in 0..<s {
      let present = (0..<d).map { design.coalitions[c * m + group[$0]] == 1 }
      let presentColumns = (0..<d).filter { present[$0] }, absentColumns = (0..<d).filter { !present[$0] }
      let (rowOf, rowRepresentative, _) = distinct(xs, rows: n, width: d, columns: presentColumns)
      let (_, backgroundRepresentative, backgroundCount) = distinct(bs, rows: b, width: d, columns: absentColumns)
      partsOf[c] = Parts(rowOf: rowOf, rowRepresentative: rowRepresentative, backgroundRepresentative: backgroundRepresentative,
                         backgroundCount: backgroundCount)
      let ub = backgroundRepresentative.count, ux = rowRepresentative.count
      let partsPerBlock = max(1, rowsPerPass / ub)
      for first in stride(from: 0, to: ux, by: partsPerBlock) {
        let parts = first..<min(ux, first + partsPerBlock)
        if !pending.isEmpty && buffer.count / d + parts.count * ub > rowsPerPass { flush() }
        pending.append(Block(coalition: c, parts: parts, start: buffer.count / d))
        for u in parts {
          let xr = rowRepresentative[u] * d
          for w in 0..<ub {
            let br = backgroundRepresentative[w] * d
            for col in 0..<d { buffer.append(present[col] ? xs[xr + col] : bs[br + col]) }
          }
        }
      }
    }
    flush()
    return values
  }

  /// The distinct parts of `rows` rows of `width` values restricted to `columns` (compared by
  /// their bits): each row's part, a representative row of each part and its count.
  static func distinct(_ scalars: [Float], rows: Int, width: Int, columns: [Int]) -> (partOf: [Int], representative: [Int], count: [Double]) {
    var index: [[UInt32]: Int] = [:]
    var partOf = [Int](repeating: 0, count: rows), representative: [Int] = [], count: [Double] = []
    var key = [UInt32](repeating: 0, count: columns.count)
    for r in 0..<rows {
      for (i, col) in columns.enumerated() { key[i] = scalars[r * width + col].bitPattern }
      if let p = index[key] {
        partOf[r] = p
        count[p] += 1
      } else {
        index[key] = representative.count
        partOf[r] = representative.count
        representative.append(r)
        count.append(1)
      }
    }
    return (partOf, representative, count)
  }
}
