import ModelFool

/// Reproducible shuffles and train/test splits, independent of the standard library's
/// (unspecified) shuffle algorithm, so a seed gives the same split on every Swift version.
public enum SeededSplit {
  /// The seed every shipped loader uses for its split (`SeededGenerator(seed: 0)`).
  public static let defaultSeed: UInt64 = 0

  /// A uniform random permutation of `0..<count` (Fisher-Yates, drawing `j` in `0...i` as
  /// `next() % (i + 1)`, bias below 2^-40 for any realistic count).
  public static func permutation(_ count: Int, using g: inout SeededGenerator) -> [Int] {
    var p = Array(0..<count)
    shuffle(&p, using: &g)
    return p
  }

  /// Shuffles `values` in place with the same Fisher-Yates rule as `permutation`.
  public static func shuffle<T>(_ values: inout [T], using g: inout SeededGenerator) {
    guard values.count > 1 else { return }
    for i in stride(from: values.count - 1, to: 0, by: -1) {
      let j = Int(g.next() % UInt64(i + 1))
      if i != j { values.swapAt(i, j) }
    }
  }

  /// A split stratified by label: within each class (in increasing label order) the indices are
  /// shuffled with one `SeededGenerator(seed:)` and the first `round(testFraction * classCount)`
  /// go to the test set. Both index lists come back sorted, i.e. in source order.
  public static func stratified(labels: [Int], testFraction: Double, seed: UInt64 = defaultSeed)
    -> (train: [Int], test: [Int])
  {
    precondition(testFraction >= 0 && testFraction <= 1, "testFraction \(testFraction) outside [0, 1]")
    var g = SeededGenerator(seed: seed)
    var byClass: [Int: [Int]] = [:]
    for (i, l) in labels.enumerated() { byClass[l, default: []].append(i) }
    var train: [Int] = [], test: [Int] = []
    for label in byClass.keys.sorted() {
      var members = byClass[label]!
      shuffle(&members, using: &g)
      let k = Int((testFraction * Double(members.count)).rounded())
      test += members[..<k]
      train += members[k...]
    }
    return (train.sorted(), test.sorted())
  }
}
