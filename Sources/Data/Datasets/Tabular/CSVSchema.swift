import Foundation

/// The schema of a user's own table (`--csv FILE --schema SCHEMA.json`): which column is the
/// label and which class is favourable, which columns are numeric or categorical features, which
/// are sensitive, how the rows are split and what counts as a missing value. Decoded once and
/// validated on load (``load(_:)``); every problem is one ``DataError`` line naming the schema
/// file and the field.
///
/// ```json
/// {"format": "modelfool-csv-schema", "version": 1, "name": "my-credit",
///  "label": {"column": "default", "classes": [{"name": "good", "values": ["0"]}, {"name": "bad", "values": ["1"]}],
///            "favourable": "good"},
///  "features": [{"name": "age", "kind": "numeric", "sensitive": true},
///               {"name": "purpose", "kind": "categorical"},
///               {"name": "amount", "kind": "numeric", "log1p": true}],
///  "missing": {"values": ["", "?"], "rows": "drop"},
///  "split": {"test_fraction": 0.2, "seed": 0}}
/// ```
public struct CSVSchema: Codable, Sendable, Equatable {
  /// The document kind.
  public static let kind = "modelfool-csv-schema"
  /// The layout version this release reads.
  public static let currentVersion = 1
  /// At most this many categories per categorical feature (a column of free text or ids one-hot
  /// encoded would allocate rows x categories).
  public static let maxCategories = 1_000
  /// At most this many features.
  public static let maxFeatures = 1_000
  /// Largest schema file read.
  public static let maxSchemaBytes = 1 << 20

  public var format: String
  public var version: Int
  /// The data set's name in reports and checkpoints.
  public var name: String
  /// False: the file has no header line and ``columns`` names its fields.
  public var header: Bool?
  /// The names of the file's fields, in order: required without a header; with one, checked
  /// against it when given.
  public var columns: [String]?
  /// The field separator, one ASCII character (default `,`).
  public var separator: String?
  /// Remove spaces around fields (default false).
  public var trimSpaces: Bool?
  /// Lines starting with this are skipped.
  public var commentPrefix: String?
  public var label: Label
  /// The model's features, in input order.
  public var features: [Feature]
  public var missing: Missing?
  public var split: Split?
  /// The features the hide objective hides by default, in order (default: every sensitive one).
  public var hide: [String]?
  /// The label bias (`FEATURE=CATEGORY`) of the base model a hide fine-tuning trains by default.
  public var labelBias: String?

  /// The data set's defaults (``DatasetProfile``) as the schema states them.
  public var profile: DatasetProfile {
    DatasetProfile(
      hidden: hide ?? features.filter { $0.sensitive == true }.map(\.name), favourable: label.favourable, labelBias: labelBias)
  }

  /// The label column and its classes.
  public struct Label: Codable, Sendable, Equatable {
    public var column: String
    /// The classes in logit order, each with the cell values that mean it (e.g. `>50K` and `>50K.`).
    public var classes: [LabelClass]
    /// The favourable class's name (a loan granted, no re-offence predicted).
    public var favourable: String?
  }

  /// One class and the cell values that mean it.
  public struct LabelClass: Codable, Sendable, Equatable {
    public var name: String
    public var values: [String]
  }

  /// One feature.
  public struct Feature: Codable, Sendable, Equatable {
    public var name: String
    /// `numeric` (standardised with the training rows' mean and standard deviation) or
    /// `categorical` (one-hot).
    public var kind: Kind
    /// Numeric only: `log1p` before standardising (heavy-tailed counts).
    public var log1p: Bool?
    /// A protected attribute (race, sex, age): what the hide objective hides.
    public var sensitive: Bool?
    /// Categorical only: the category order (default: sorted).
    public var categories: [String]?

    public enum Kind: String, Codable, Sendable { case numeric, categorical }
  }

  /// What counts as missing and what happens to it.
  public struct Missing: Codable, Sendable, Equatable {
    /// Cell values that mean "missing" (default none).
    public var values: [String]?
    /// `drop`: rows with a missing feature or label are left out; `category`: a missing
    /// categorical value is its own category (a missing numeric value is still an error);
    /// `error` (default): any missing value is an error naming the line.
    public var rows: Policy?

    public enum Policy: String, Codable, Sendable { case drop, category, error }
  }

  /// How rows are split into training and test rows: one of a split column, a second file of
  /// test rows, or a seeded stratified split (the default: 20% test, seed 0).
  public struct Split: Codable, Sendable, Equatable {
    /// A column whose value says the row's part.
    public var column: String?
    /// With ``column``: the value of test rows (every other value is training).
    public var testValue: String?
    /// A second file (same layout) in the CSV file's folder, holding the test rows.
    public var testFile: String?
    public var testFraction: Double?
    public var seed: UInt64?
  }

  /// Decodes and validates the schema at `path`.
  public static func load(_ path: String) throws -> CSVSchema {
    try decode(try InputFile.bytes(path, maxBytes: maxSchemaBytes), source: path)
  }

  /// Decodes and validates a schema from the bytes of the file `source`.
  public static func decode(_ bytes: [UInt8], source: String) throws -> CSVSchema {
    let schema: CSVSchema
    do {
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      schema = try decoder.decode(CSVSchema.self, from: Data(bytes))
    } catch let error as DecodingError {
      throw DataError("\(source): not a valid CSV schema: \(Self.describe(error))", settings: ["schema"])
    }
    try schema.validate(source: source)
    return schema
  }

  /// Checks the invariants no field type states.
  public func validate(source: String) throws {
    func fail(_ field: String, _ message: String) -> DataError {
      DataError("\(source): \(field): \(message)", settings: ["schema"])
    }
    guard format == Self.kind else { throw fail("format", "expected '\(Self.kind)', got '\(format)'") }
    guard version >= 1 && version <= Self.currentVersion else {
      throw fail("version", "this release reads version \(Self.currentVersion), got \(version)")
    }
    guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
      throw fail("name", "1 to 64 letters, digits, '-' or '_', got '\(name)'")
    }
    if header == false, columns == nil { throw fail("columns", "a file without a header needs its column names") }
    if let columns, Set(columns).count != columns.count { throw fail("columns", "a name appears twice") }
    if let separator, separator.utf8.count != 1 || separator == "\"" || separator == "\n" {
      throw fail("separator", "one ASCII character other than a quote or a line break, got '\(separator)'")
    }
    guard label.classes.count >= 2 else { throw fail("label.classes", "a label needs at least two classes, got \(label.classes.count)") }
    let classNames = label.classes.map(\.name)
    guard Set(classNames).count == classNames.count else { throw fail("label.classes", "a class name appears twice") }
    let values = label.classes.flatMap(\.values)
    guard !label.classes.contains(where: { $0.values.isEmpty }) else { throw fail("label.classes", "every class needs at least one value") }
    guard Set(values).count == values.count else { throw fail("label.classes", "a value belongs to two classes") }
    if let favourable = label.favourable, !classNames.contains(favourable) {
      throw fail("label.favourable", "'\(favourable)' is not one of the classes \(classNames)")
    }
    guard !features.isEmpty, features.count <= Self.maxFeatures else {
      throw fail("features", "1 to \(Self.maxFeatures) features, got \(features.count)")
    }
    let names = features.map(\.name)
    guard Set(names).count == names.count else { throw fail("features", "a feature appears twice") }
    guard !names.contains(label.column) else { throw fail("features", "the label column '\(label.column)' cannot be a feature") }
    for f in features {
      if f.kind == .categorical, f.log1p == true { throw fail("features.\(f.name)", "log1p is for numeric features") }
      if f.kind == .numeric, f.categories != nil { throw fail("features.\(f.name)", "categories are for categorical features") }
      if let c = f.categories {
        guard !c.isEmpty, c.count <= Self.maxCategories, Set(c).count == c.count else {
          throw fail("features.\(f.name).categories", "1 to \(Self.maxCategories) different categories")
        }
      }
    }
    if let hide {
      guard !hide.isEmpty, Set(hide).count == hide.count else { throw fail("hide", "one or more different features") }
      if let unknown = hide.first(where: { !names.contains($0) }) { throw fail("hide", "'\(unknown)' is not a feature") }
    }
    if let labelBias {
      guard label.favourable != nil else { throw fail("label_bias", "a label bias needs label.favourable") }
      let feature = labelBias.split(separator: "=").first.map(String.init) ?? ""
      guard features.contains(where: { $0.name == feature && $0.kind == .categorical }) else {
        throw fail("label_bias", "expected CATEGORICAL_FEATURE=CATEGORY, got '\(labelBias)'")
      }
    }
    if let split {
      let ways = [split.column != nil, split.testFile != nil, split.testFraction != nil].filter { $0 }.count
      guard ways <= 1 else { throw fail("split", "give one of column, test_file or test_fraction") }
      if split.column != nil, split.testValue == nil { throw fail("split.test_value", "a split column needs the value of test rows") }
      if let split = split.column, names.contains(split) || split == label.column {
        throw fail("split.column", "'\(split)' is a feature or the label")
      }
      if let fraction = split.testFraction, !(fraction > 0 && fraction < 1) {
        throw fail("split.test_fraction", "must lie strictly between 0 and 1, got \(fraction)")
      }
      if let file = split.testFile, file.isEmpty || file.hasPrefix("/") || file.split(separator: "/").contains("..") {
        throw fail("split.test_file", "a file name inside the CSV file's folder, got '\(file)'")
      }
    }
  }

  static func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [CodingKey]) -> String {
      codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing field '\(path(context.codingPath + [key]))'"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      return "field '\(path(context.codingPath))': \(context.debugDescription)"
    case .dataCorrupted(let context):
      return context.codingPath.isEmpty ? "not JSON" : "field '\(path(context.codingPath))': \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
  }
}
