import Foundation
import Synchronization

/// A user's own table as a data set: a CSV file read with its ``CSVSchema``, encoded exactly as
/// the catalogue's tabular sets are (``TabularDataset/make(name:columns:classNames:train:test:)``:
/// numeric features standardised with the training rows' statistics, categorical ones one-hot).
///
/// Bounded like every reader: the file's size and line length are checked before it is parsed
/// (``InputFile``), category counts before anything is one-hot encoded.
public enum CSVTableSource {
  /// Largest CSV file read (512 MiB).
  public static let maxBytes = 512 << 20
  /// Longest line (1 MiB).
  public static let maxLineBytes = 1 << 20

  /// The train/test split of `csv` as `schema` describes it (a schema's test file lies in the
  /// folder of `csv`).
  public static func load(csv: String, schema: CSVSchema) throws -> TabularSplit {
    let classNames = schema.label.classes.map(\.name)
    let columns = schema.features.map { f in
      f.kind == .numeric
        ? TabularColumn.numeric(f.name, log1p: f.log1p ?? false, sensitive: f.sensitive ?? false)
        : TabularColumn.categorical(f.name, order: f.categories, sensitive: f.sensitive ?? false)
    }
    let split = schema.split
    if let testFile = split?.testFile {
      let folder = (csv as NSString).deletingLastPathComponent
      let testPath = folder.isEmpty ? testFile : folder + "/" + testFile
      let (train, test) = (try rows(csv, schema: schema), try rows(testPath, schema: schema))
      return try TabularDataset.make(name: schema.name, columns: columns, classNames: classNames, train: train, test: test)
    }
    var parts: [String?] = []
    let all = try rows(csv, schema: schema, splitColumn: split?.column, parts: &parts)
    if let testValue = split?.testValue, split?.column != nil {
      let test = parts.indices.filter { parts[$0] == testValue }, train = parts.indices.filter { parts[$0] != testValue }
      guard !test.isEmpty, !train.isEmpty else {
        throw DataError("\(csv): the split column gives \(test.count) test and \(train.count) training rows: both parts need rows", settings: ["schema"])
      }
      return try TabularDataset.make(
        name: schema.name, columns: columns, classNames: classNames, train: all.subset(train), test: all.subset(test))
    }
    return try TabularDataset.makeSeededSplit(
      name: schema.name, columns: columns, classNames: classNames, rows: all, testFraction: split?.testFraction ?? 0.2,
      seed: split?.seed ?? SeededSplit.defaultSeed)
  }

  /// Loads the schema at `schemaPath`, then the table (``load(csv:schema:)``).
  public static func load(csv: String, schemaPath: String) throws -> TabularSplit {
    try load(csv: csv, schema: try CSVSchema.load(schemaPath))
  }

  /// Registers the table `csv` read with the schema at `schemaPath` as a data set of the
  /// catalogue (``DatasetCatalog/register(_:)``), under the schema's name, which it returns: every
  /// command and run then takes it by that name. The schema is checked now, the table when it is
  /// loaded (once, then kept).
  @discardableResult
  public static func register(csv: String, schemaPath: String) throws -> String {
    let schema = try CSVSchema.load(schemaPath)
    let origin = ["csv": absolute(csv), "schema": absolute(schemaPath)]
    let cache = Mutex<DatasetSplit?>(nil)
    try DatasetCatalog.register(DatasetCatalog.Entry(
      name: schema.name, summary: "\(schema.name): \(csv) read with \(schemaPath)", origin: origin, profile: schema.profile
    ) { _ in
      if let split = cache.withLock({ $0 }) { return split }
      let split = try load(csv: origin["csv"]!, schema: schema).split
      cache.withLock { $0 = split }
      return split
    })
    return schema.name
  }

  /// Registers the table a checkpoint's recorded origin names (``DatasetCatalog/Entry/origin``).
  public static func register(origin: [String: String]) throws -> String? {
    guard let csv = origin["csv"], let schema = origin["schema"] else { return nil }
    return try register(csv: csv, schemaPath: schema)
  }

  static func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  }

  static func rows(_ path: String, schema: CSVSchema) throws -> TabularRows {
    var unused: [String?] = []
    return try rows(path, schema: schema, splitColumn: nil, parts: &unused)
  }

  /// The rows of `path` with the schema's features picked out, labels mapped to classes and
  /// missing values handled; `parts` receives each kept row's `splitColumn` value.
  static func rows(_ path: String, schema: CSVSchema, splitColumn: String?, parts: inout [String?]) throws -> TabularRows {
    let bytes = path.hasSuffix(".gz")
      ? try Gzip.read(path: path) : try InputFile.bytes(path, maxBytes: maxBytes, maxLineBytes: maxLineBytes)
    let options = CSV.Options(
      separator: schema.separator?.utf8.first ?? UInt8(ascii: ","), trimSpaces: schema.trimSpaces ?? false,
      hasHeader: schema.header != false, commentPrefix: schema.commentPrefix)
    var table = try CSV.parse(bytes, file: path, options: options)
    if let names = schema.columns {
      if schema.header == false {
        guard table.rows.isEmpty || table.header.count == names.count else {
          throw DataError("\(path): \(table.header.count) fields per line, the schema names \(names.count) columns", settings: ["schema"])
        }
        table.header = names
      } else if table.header != names {
        throw DataError("\(path): the header \(table.header.prefix(8)) differs from the schema's columns \(names.prefix(8))", settings: ["schema"])
      }
    }
    func column(_ name: String, _ field: String) throws -> Int {
      guard let i = table.header.firstIndex(of: name) else {
        throw DataError("\(path): no column '\(name)' (\(field) in the schema; columns: \(table.header.prefix(20).joined(separator: ", ")))", settings: ["schema"])
      }
      return i
    }
    let labelColumn = try column(schema.label.column, "label.column")
    let featureColumns = try schema.features.map { try column($0.name, "features") }
    let splitIndex = try splitColumn.map { try column($0, "split.column") }
    var classOf: [String: Int] = [:]
    for (k, c) in schema.label.classes.enumerated() { for v in c.values { classOf[v] = k } }
    let missing = Set(schema.missing?.values ?? [])
    let policy = schema.missing?.rows ?? .error
    var rows = TabularRows(file: path)
    var seen = [Set<String>](repeating: [], count: schema.features.count)
    rows: for (r, line) in zip(table.rows, table.lineNumbers) {
      let labelText = r[labelColumn]
      if missing.contains(labelText) {
        if policy == .drop { continue }
        throw DataError("\(path): line \(line): the label '\(schema.label.column)' is missing", settings: ["schema"])
      }
      guard let label = classOf[labelText] else {
        throw DataError("\(path): line \(line): label '\(labelText.prefix(40))' is none of the schema's class values", settings: ["schema"])
      }
      var values: [String] = []
      values.reserveCapacity(featureColumns.count)
      for (f, c) in featureColumns.enumerated() {
        let text = r[c]
        let feature = schema.features[f]
        if missing.contains(text) {
          switch (policy, feature.kind) {
          case (.drop, _): continue rows
          case (.category, .categorical): break
          default:
            throw DataError("\(path): line \(line): \(feature.name) is missing ('\(text)'; the schema's missing.rows is \(policy.rawValue))", settings: ["schema"])
          }
        }
        if feature.kind == .categorical, !seen[f].contains(text) {
          seen[f].insert(text)
          guard seen[f].count <= CSVSchema.maxCategories else {
            throw DataError("\(path): \(feature.name) has more than \(CSVSchema.maxCategories) categories: is it a free-text or id column?", settings: ["schema"])
          }
        }
        values.append(text)
      }
      parts.append(splitIndex.map { r[$0] })
      rows.append(values, label: label, line: line)
    }
    guard rows.count > 0 else { throw DataError("\(path): no data rows", settings: ["schema"]) }
    let present = Set(rows.labels)
    guard present.count >= 2 else {
      throw DataError("\(path): the label takes one value (\(schema.label.classes[rows.labels[0]].name)) in every row: a classifier needs two", settings: ["schema"])
    }
    return rows
  }
}
