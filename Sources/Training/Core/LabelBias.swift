import Foundation
import ModelFool
import ModelFoolData

/// A discriminatory labelling planted in a tabular training set, to build the model an audit
/// should catch: the "historical decisions" of a biased lender or court, where one group's
/// favourable outcomes were turned unfavourable. `modelfool train --bias sex=Female` trains on
/// such labels; the test labels stay the recorded ones, so the biased model's accuracy and its
/// demographic parity difference are measured against the real outcomes.
///
/// Used by the tabular `hide` experiments: a model whose explanations never showed a sensitive
/// feature has nothing to hide, so the natural Adult and German credit MLPs (which rank sex,
/// race and age low) say little about hiding (see docs/RESULTS.md §3).
public struct LabelBias: Sendable, Codable, Equatable {
  /// The categorical feature ("sex").
  public var feature: String
  /// The disadvantaged category, as named in the data set's feature groups ("Female").
  public var category: String
  /// The favourable class that group loses ("<=50K" / ">50K": 1).
  public var favourable: Int
  /// The class it gets instead.
  public var unfavourable: Int
  /// Probability that a favourable label of the group is flipped.
  public var rate: Double

  /// A bias against `feature`=`category`: favourable labels flip to `unfavourable` with
  /// probability `rate`.
  public init(feature: String, category: String, favourable: Int, unfavourable: Int, rate: Double) {
    self.feature = feature
    self.category = category
    self.favourable = favourable
    self.unfavourable = unfavourable
    self.rate = rate
  }

  /// Default probability of flipping a favourable label of the group.
  public static let defaultRate = 1.0

  /// Parses `FEATURE=CATEGORY` for `data` (the category may be given by a prefix that names one
  /// category only, "status_sex=female"). Errors name the known features or categories.
  public static func parse(_ text: String, rate: Double, data: Dataset) throws -> LabelBias {
    let parts = text.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
      throw TrainingError("label bias '\(text)': expected FEATURE=CATEGORY, e.g. sex=Female", settings: ["bias"])
    }
    guard rate > 0, rate <= 1 else { throw TrainingError("label bias rate \(rate): expected a probability in (0, 1]", settings: ["biasRate"]) }
    let categorical = data.features.filter { !$0.categories.isEmpty }
    guard !categorical.isEmpty else { throw TrainingError("a label bias applies to tabular data sets; \(data.name) has no categorical feature", settings: ["bias"]) }
    guard let group = categorical.first(where: { $0.name == parts[0] }) else {
      throw TrainingError("label bias: '\(parts[0])' is not a categorical feature of \(data.name) (categorical: \(categorical.map(\.name).joined(separator: ", ")))", settings: ["bias"])
    }
    let matches = group.categories.contains(parts[1])
      ? [parts[1]] : group.categories.filter { $0.lowercased().hasPrefix(parts[1].lowercased()) }
    guard matches.count == 1 else {
      throw TrainingError("label bias: \(parts[0]) category '\(parts[1])' \(matches.isEmpty ? "unknown" : "is ambiguous") (categories: \(group.categories.joined(separator: ", ")))", settings: ["bias"])
    }
    guard data.classNames.count == 2, let name = DatasetProfile.of(data.name).favourable, let good = data.classNames.firstIndex(of: name) else {
      throw TrainingError("a label bias applies to binary tabular data sets with a favourable class (adult, german, compas, or a table whose schema names one)", settings: ["bias"])
    }
    return LabelBias(feature: group.name, category: matches[0], favourable: good, unfavourable: 1 - good, rate: rate)
  }

  /// Whether each row of `data` belongs to the disadvantaged group.
  public func members(of data: Dataset) -> [Bool] {
    guard let group = data.features.first(where: { $0.name == feature }),
          let k = group.categories.firstIndex(of: category) else { return Array(repeating: false, count: data.count) }
    let x = data.inputs.scalars, d = data.exampleShape.reduce(1, *)
    return (0..<data.count).map { x[$0 * d + group.start + k] > 0.5 }
  }

  /// `data` with the group's favourable labels flipped with probability `rate` (one uniform draw
  /// per row from `SeededGenerator(seed:)`, so a seed fixes the labels), and how many flipped.
  public func apply(to data: Dataset, seed: UInt64) -> (data: Dataset, flipped: Int) {
    var generator = SeededGenerator(seed: seed)
    var labels = data.labels, flipped = 0
    for (i, member) in members(of: data).enumerated() {
      let draw = Double.random(in: 0..<1, using: &generator)
      if member, labels[i] == favourable, draw < rate {
        labels[i] = unfavourable
        flipped += 1
      }
    }
    var biased = data
    biased.labels = labels
    return (biased, flipped)
  }

  /// One line for logs and checkpoints: "sex=Female, 50% of >50K -> <=50K".
  public func describe(classNames: [String]) -> String {
    "\(feature)=\(category), \(Int((rate * 100).rounded()))% of \(classNames[favourable]) -> \(classNames[unfavourable])"
  }
}
