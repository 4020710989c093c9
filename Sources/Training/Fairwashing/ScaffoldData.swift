import Foundation
import ModelFool
import ModelFoolData

/// What the innocuous model `psi` decides from (Slack et al. §4): synthetic decoy columns drawn
/// independently of everything (uniform signs, -1 or +1, like their 0/1 columns after
/// standardisation), or a real feature of the data.
public enum InnocuousFeature: Codable, Sendable, Equatable, CustomStringConvertible {
  /// One decoy column `decoy_1`: unfavourable iff `decoy_1 > 0`.
  case oneDecoy
  /// Two decoy columns: unfavourable iff both are +1 (`decoy_1 + decoy_2 > 1`). Slack et al. take
  /// their XOR, which a discretising LIME's linear surrogate cannot see (its coefficients of both
  /// columns vanish in expectation), so the AND rule is used here.
  case twoDecoys
  /// A real numeric feature: unfavourable iff above its train mean (Slack et al.'s German credit
  /// `psi` on the loan rate as a percentage of income, here `installment_rate`).
  case feature(String)
  /// `psi` is `f` itself: an honest scaffold, which answers `f` everywhere (built the same way,
  /// detector included): the clean counterpart of scaffolds in the detector's evaluation.
  case same
  /// `psi` is a fair model: the data set's recipe MLP trained (seed + 1) on the recorded labels
  /// with the sensitive feature's columns set to 0, whose first-layer weights on those columns are
  /// then set to 0, so it never reads the sensitive feature: the fairwashing a scaffold is for,
  /// with no decoy for an auditor to notice.
  case fair

  /// Parses `one-decoy`, `two-decoys`, `same`, `fair` or a feature name.
  public init(parsing text: String) {
    switch text {
    case "one-decoy": self = .oneDecoy
    case "two-decoys": self = .twoDecoys
    case "same": self = .same
    case "fair": self = .fair
    default: self = .feature(text)
    }
  }

  public var description: String {
    switch self {
    case .oneDecoy: "one-decoy"
    case .twoDecoys: "two-decoys"
    case .feature(let name): name
    case .same: "same"
    case .fair: "fair"
    }
  }

  /// Number of synthetic columns added to the data.
  public var decoyCount: Int {
    switch self {
    case .oneDecoy: 1
    case .twoDecoys: 2
    case .feature, .same, .fair: 0
    }
  }
}

/// The data of a scaffolding run and its two decision rules.
public struct ScaffoldData: Sendable {
  /// Train and test rows, with the decoy columns (if any) appended as numeric features
  /// `decoy_1`, `decoy_2`.
  public var split: DatasetSplit
  /// `f`: unfavourable iff the row is in the sensitive group.
  public var biasedRule: ThresholdRule
  /// `psi`: decides from the innocuous feature(s).
  public var innocuousRule: ThresholdRule
  /// Player (feature group) index of the sensitive feature.
  public var sensitivePlayer: Int
  /// Player indices of the innocuous feature(s).
  public var innocuousPlayers: [Int]

  /// Number of input columns.
  public var columns: Int { split.train.exampleShape.reduce(1, *) }

  /// Builds the data from a tabular split: `sensitive` is `FEATURE` or `FEATURE=CATEGORY` (nil:
  /// the profile's first hidden feature; a
  /// categorical feature's group: the category named, by a unique prefix too, else the one the
  /// data set's profile biases against, else the most frequent; a numeric feature's group: rows at
  /// or below the train median). Decoys are drawn with `SeededGenerator(seed:)`.
  ///
  /// - Throws: ``TrainingError`` for image data, a data set without two classes and a favourable
  ///   one, an unknown feature or category, or an innocuous feature that is not numeric.
  public init(split raw: DatasetSplit, sensitive: String?, innocuous: InnocuousFeature, seed: UInt64) throws {
    let train = raw.train
    guard train.inputs.rank == 2, !train.features.isEmpty else {
      throw TrainingError("scaffold needs a tabular data set with named features; \(train.name) has inputs \(train.exampleShape)", settings: ["dataset"])
    }
    guard train.classNames.count == 2, let name = DatasetProfile.of(train.name).favourable,
          let good = train.classNames.firstIndex(of: name) else {
      throw TrainingError("scaffold needs two classes and a favourable one (adult, german, compas, or a table whose schema names one); \(train.name) has \(train.classNames.count) classes", settings: ["dataset"])
    }
    guard let sensitive = sensitive ?? DatasetProfile.of(train.name).hidden?.first else {
      throw TrainingError("scaffold: name the sensitive feature of \(train.name)", settings: ["sensitive"])
    }
    let parts = sensitive.split(separator: "=", maxSplits: 1).map(String.init)
    guard let feature = train.features.first(where: { $0.name == parts[0] }) else {
      throw TrainingError("sensitive feature '\(parts[0])' is not a feature of \(train.name) (features: \(train.features.map(\.name).joined(separator: ", ")))", settings: ["sensitive"])
    }
    let d = train.exampleShape[0], x = train.inputs.scalars
    if feature.categories.isEmpty {
      guard parts.count == 1 else {
        throw TrainingError("sensitive feature \(feature.name) is numeric; its group is the rows at or below the train median, name no category", settings: ["sensitive"])
      }
      let values = (0..<train.count).map { x[$0 * d + feature.start] }.sorted()
      let median = values[(values.count - 1) / 2]
      let above = values.first { $0 > median } ?? median + 1
      biasedRule = ThresholdRule(columns: [feature.start], weights: [-1], threshold: -(median + above) / 2,
                                 unfavourable: 1 - good, favourable: good, summary: "\(feature.name) <= train median")
    } else {
      let category: String
      if parts.count == 2 {
        category = parts[1]
      } else if let bias = DatasetProfile.of(train.name).labelBias, bias.hasPrefix(feature.name + "=") {
        category = String(bias.dropFirst(feature.name.count + 1))
      } else {
        var counts = [Int](repeating: 0, count: feature.width)
        for r in 0..<train.count { for k in 0..<feature.width where x[r * d + feature.start + k] > 0.5 { counts[k] += 1 } }
        category = feature.categories[counts.indices.max { counts[$0] < counts[$1] } ?? 0]
      }
      let group: LabelBias
      do { group = try LabelBias.parse("\(feature.name)=\(category)", rate: 1, data: train) } catch let error as TrainingError {
        throw TrainingError(error.description.replacingOccurrences(of: "label bias: ", with: "sensitive feature "), settings: ["sensitive"])
      }
      let k = feature.categories.firstIndex(of: group.category)!
      biasedRule = ThresholdRule(columns: [feature.start + k], weights: [1], threshold: 0.5,
                                 unfavourable: 1 - good, favourable: good, summary: "\(feature.name) = \(group.category)")
    }
    sensitivePlayer = train.features.firstIndex { $0.name == feature.name }!
    let players = train.features.count
    switch innocuous {
    case .oneDecoy, .twoDecoys:
      let n = innocuous.decoyCount
      split = Self.addingDecoys(n, to: raw, seed: seed)
      innocuousPlayers = Array(players..<(players + n))
      innocuousRule = ThresholdRule(
        columns: Array(d..<(d + n)), weights: [Float](repeating: 1, count: n), threshold: n == 1 ? 0 : 1,
        unfavourable: 1 - good, favourable: good, summary: n == 1 ? "decoy_1 > 0" : "decoy_1 > 0 and decoy_2 > 0")
    case .same, .fair:
      split = raw
      innocuousPlayers = []
      innocuousRule = biasedRule
    case .feature(let name):
      guard let g = train.features.firstIndex(where: { $0.name == name }), train.features[g].categories.isEmpty else {
        let numeric = train.features.filter { $0.categories.isEmpty }.map(\.name)
        throw TrainingError("innocuous feature '\(name)' is not one-decoy, two-decoys or a numeric feature of \(train.name) (numeric: \(numeric.joined(separator: ", ")))", settings: ["innocuous"])
      }
      guard g != sensitivePlayer else { throw TrainingError("innocuous feature \(name) is the sensitive feature", settings: ["innocuous"]) }
      let c = train.features[g].start
      let mean = (0..<train.count).reduce(Float(0)) { $0 + x[$1 * d + c] } / Float(train.count)
      split = raw
      innocuousPlayers = [g]
      innocuousRule = ThresholdRule(columns: [c], weights: [1], threshold: mean, unfavourable: 1 - good, favourable: good,
                                    summary: "\(name) > train mean")
    }
  }

  /// `split` with `n` columns of independent uniform signs (-1 or +1) appended to train and test.
  static func addingDecoys(_ n: Int, to split: DatasetSplit, seed: UInt64) -> DatasetSplit {
    var generator = SeededGenerator(seed: seed ^ 0x00DE_C0DE)
    func extend(_ data: Dataset) -> Dataset {
      let d = data.exampleShape[0], x = data.inputs.scalars
      var out = [Float](repeating: 0, count: data.count * (d + n))
      for r in 0..<data.count {
        for c in 0..<d { out[r * (d + n) + c] = x[r * d + c] }
        for j in 0..<n { out[r * (d + n) + d + j] = generator.next() & 1 == 0 ? -1 : 1 }
      }
      let decoys = (0..<n).map { FeatureSpan(name: "decoy_\($0 + 1)", start: d + $0, width: 1) }
      return Dataset(name: data.name, inputs: Tensor(shape: [data.count, d + n], scalars: out), labels: data.labels,
                     classNames: data.classNames, features: data.features + decoys)
    }
    let train = extend(split.train)
    return DatasetSplit(train: train, test: extend(split.test))
  }
}
