import ModelFool
import ModelFoolData

/// The values each numeric feature takes in the train rows: a second test of the scaffold's
/// detector. Counts, ages and amounts lie on a lattice; LIME draws numeric values from a normal
/// inside a quartile bin and KernelSHAP mixes in k-means centres, so their perturbations carry
/// values no real row has. A row counts as real only if every value of a lattice-like numeric
/// column (at most one distinct value per ``rowsPerValue`` train rows: counts, ages, durations;
/// not amounts, where most values are unique and a new row's value is new too) occurs in the
/// train rows (within 1e-5), and the learned detector takes it for real.
public struct SeenValues: Sendable {
  /// Per numeric column: (column, its sorted distinct train values).
  public let columns: [(column: Int, values: [Float])]

  /// A numeric column is checked when it has at most one distinct value per this many train rows.
  public static let rowsPerValue = 10

  /// The table of the rows `train` `[N, D]` for the lattice-like numeric features of `features`.
  public init(train: Tensor, features: [FeatureSpan]) {
    let x = train.scalars, n = train.shape[0], d = train.shape[1]
    columns = features.filter { $0.categories.isEmpty }.compactMap { f in
      let values = Array(Set((0..<n).map { x[$0 * d + f.start] })).sorted()
      return values.count * Self.rowsPerValue <= n ? (f.start, values) : nil
    }
  }

  /// Whether every numeric value of each row of `x` `[N, D]` is one of the train rows' values.
  public func contains(_ x: Tensor) -> [Bool] {
    let v = x.detached().scalars, d = x.shape[1]
    return (0..<x.shape[0]).map { r in
      columns.allSatisfy { c, values in
        let t = v[r * d + c]
        var (lo, hi) = (0, values.count)
        while lo < hi { let mid = (lo + hi) / 2; if values[mid] < t - 1e-5 { lo = mid + 1 } else { hi = mid } }
        return lo < values.count && abs(values[lo] - t) <= 1e-5
      }
    }
  }
}
