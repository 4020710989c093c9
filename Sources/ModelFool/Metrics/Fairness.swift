/// Group fairness of a classifier's decisions.
public enum Fairness {
  /// Demographic parity difference: `max_g P(yhat = positive | g) - min_g P(yhat = positive | g)`
  /// over the groups present (`groups[i]` is example i's group, e.g. the index of its one-hot
  /// category) with at least `minimumGroupSize` examples (a rate over a handful of rows is noise:
  /// two flipped decisions in a group of five move it by 0.4). 0 when fewer than two groups count.
  public static func demographicParityDifference(
    predictions: [Int], groups: [Int], positiveClass: Int = 1, minimumGroupSize: Int = 1
  ) -> Float {
    precondition(predictions.count == groups.count, "demographic parity: \(predictions.count) predictions, \(groups.count) groups")
    var positives: [Int: Int] = [:], totals: [Int: Int] = [:]
    for (p, g) in zip(predictions, groups) {
      totals[g, default: 0] += 1
      if p == positiveClass { positives[g, default: 0] += 1 }
    }
    let rates = totals.filter { $0.value >= minimumGroupSize }.map { Float(positives[$0.key] ?? 0) / Float($0.value) }
    guard rates.count >= 2 else { return 0 }
    return rates.max()! - rates.min()!
  }
}
