import Foundation

/// A feature of a tabular model and the input columns it occupies, as stored in
/// ``Model/featureGroupsJSON`` (the JSON form of ModelFoolData's `FeatureGroup`, which this core
/// module cannot import).
public struct FeatureSpan: Sendable, Hashable, Codable {
  /// Feature name (`sex`, `age`).
  public var name: String
  /// First input column.
  public var start: Int
  /// Number of columns (1 for a numeric feature, the category count for a one-hot one).
  public var width: Int
  /// Category names of a one-hot feature (empty for numeric).
  public var categories: [String]
  /// A protected attribute (sex, race, age, ...).
  public var isSensitive: Bool

  /// The input columns of this feature.
  public var columns: Range<Int> { start..<(start + width) }

  /// A feature occupying columns `start ..< start + width`.
  public init(name: String, start: Int, width: Int, categories: [String] = [], isSensitive: Bool = false) {
    self.name = name
    self.start = start
    self.width = width
    self.categories = categories
    self.isSensitive = isSensitive
  }

  /// Parses a JSON list of `{name, start, width, categories, isSensitive}` objects (`""` and
  /// `"[]"` give no features).
  ///
  /// - Throws: ``ExplanationError`` when the text is not such a list.
  public static func parse(json: String) throws -> [FeatureSpan] {
    let text = json.trimmingCharacters(in: .whitespacesAndNewlines)
    if text.isEmpty { return [] }
    struct Raw: Decodable {
      var name: String
      var start: Int
      var width: Int
      var categories: [String]?
      var isSensitive: Bool?
    }
    do {
      return try JSONDecoder().decode([Raw].self, from: Data(text.utf8)).map {
        FeatureSpan(name: $0.name, start: $0.start, width: $0.width, categories: $0.categories ?? [],
                    isSensitive: $0.isSensitive ?? false)
      }
    } catch {
      throw ExplanationError("feature groups are not a JSON list of {name, start, width, ...}: \(text.prefix(80))")
    }
  }

  /// The input columns of the numeric features (those without categories) of `spans`, ascending.
  public static func numericColumns(of spans: [FeatureSpan]) -> [Int] {
    spans.filter(\.categories.isEmpty).flatMap(\.columns).sorted()
  }

  /// The features of a tabular model (from its ``Model/featureGroupsJSON``).
  public static func features(of model: Model) throws -> [FeatureSpan] {
    try parse(json: model.featureGroupsJSON)
  }
}
