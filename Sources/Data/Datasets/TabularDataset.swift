import Foundation
import ModelFool

// Implementation note: every tabular loader turns its file into `TabularRows` (one string per
// model feature, already picked out of the source columns, plus an integer label), splits them,
// and hands train and test to `TabularDataset.make`, which fits a `TabularEncoder` on the TRAIN
// rows only (means and standard deviations) and encodes both parts with it. Category vocabularies
// are taken from train and test together, so every test category has a column (the vocabulary is
// not a statistic of the labels, so nothing about the test outcomes leaks into training).

/// How one tabular feature becomes model-input columns.
public struct TabularColumn: Sendable, Codable, Hashable {
  /// Numeric (standardised) or categorical (one-hot).
  public enum Kind: Sendable, Codable, Hashable {
    /// One column `(t(x) - mean) / std`, with `t = log1p` when `log1p` is set (heavy-tailed
    /// counts such as capital gains), else the identity; mean and std from the training rows.
    case numeric(log1p: Bool)
    /// One 0/1 column per category. `order` fixes the category order (codes absent from the data
    /// are dropped, a code not in `order` is an error); `nil` sorts the codes seen.
    case categorical(order: [String]?)
  }

  /// Feature name ("age", "sex"), used for the `FeatureGroup`.
  public var name: String
  /// Encoding.
  public var kind: Kind
  /// A protected attribute.
  public var isSensitive: Bool
  /// Readable names for category codes ("A93" -> "male : single"); missing codes show as-is.
  public var displayNames: [String: String]

  /// A column called `name` encoded as `kind`.
  public init(_ name: String, _ kind: Kind, sensitive: Bool = false, displayNames: [String: String] = [:]) {
    self.name = name
    self.kind = kind
    self.isSensitive = sensitive
    self.displayNames = displayNames
  }

  /// A standardised numeric feature.
  public static func numeric(_ name: String, log1p: Bool = false, sensitive: Bool = false) -> TabularColumn {
    TabularColumn(name, .numeric(log1p: log1p), sensitive: sensitive)
  }

  /// A one-hot categorical feature.
  public static func categorical(
    _ name: String, order: [String]? = nil, sensitive: Bool = false, displayNames: [String: String] = [:]
  ) -> TabularColumn {
    TabularColumn(name, .categorical(order: order), sensitive: sensitive, displayNames: displayNames)
  }
}

/// Raw tabular examples: one string per `TabularColumn`, an integer label, and the source line of
/// each row (for error messages).
public struct TabularRows: Sendable {
  /// The file the rows came from.
  public var file: String
  /// `values[row][column]`, aligned with the column spec.
  public var values: [[String]]
  /// One class per row.
  public var labels: [Int]
  /// 1-based source line of each row.
  public var lines: [Int]

  /// Rows read from `file` (empty by default; fill with `append`).
  public init(file: String, values: [[String]] = [], labels: [Int] = [], lines: [Int] = []) {
    self.file = file
    self.values = values
    self.labels = labels
    self.lines = lines
  }

  /// Number of rows.
  public var count: Int { values.count }

  /// Appends one example.
  public mutating func append(_ row: [String], label: Int, line: Int) {
    values.append(row)
    labels.append(label)
    lines.append(line)
  }

  /// The rows at `indices`, in that order.
  public func subset(_ indices: [Int]) -> TabularRows {
    TabularRows(file: file, values: indices.map { values[$0] }, labels: indices.map { labels[$0] },
                lines: indices.map { lines[$0] })
  }
}

/// The fitted preprocessing of a tabular data set: one-hot vocabularies and train statistics.
/// Codable, so a checkpoint can store it and a user can encode new rows the same way.
public struct TabularEncoder: Sendable, Codable, Hashable {
  /// The column spec it was fitted for.
  public var columns: [TabularColumn]
  /// Category codes of each column in one-hot order (empty for numeric columns).
  public var categories: [[String]]
  /// Train mean of each numeric column after its transform (0 for categorical columns).
  public var means: [Float]
  /// Train standard deviation (population, ddof 0) of each numeric column after its transform;
  /// 1 where the column is constant, and for categorical columns.
  public var standardDeviations: [Float]
  /// The model-input columns of each feature, in input order.
  public var features: [FeatureGroup]

  /// Number of model-input columns `D`.
  public var width: Int { features.last.map { $0.start + $0.width } ?? 0 }

  /// Fits on `train` (statistics) and on `train` plus `vocabulary` (category codes).
  public static func fit(columns: [TabularColumn], train: TabularRows, vocabulary: [TabularRows] = [])
    throws -> TabularEncoder
  {
    var categories: [[String]] = []
    var means: [Float] = [], stds: [Float] = []
    var features: [FeatureGroup] = []
    var start = 0
    for (c, column) in columns.enumerated() {
      switch column.kind {
      case .numeric:
        let values = try (0..<train.count).map { Double(try value(train, row: $0, column: c, spec: column)) }
        let count = values.count
        let sum = values.reduce(0, +)
        let mean = count > 0 ? sum / Double(count) : 0
        let variance = count > 0 ? values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(count) : 0
        let std = variance > 0 ? variance.squareRoot() : 1
        means.append(Float(mean))
        stds.append(Float(std))
        categories.append([])
        features.append(FeatureGroup(name: column.name, start: start, width: 1, isSensitive: column.isSensitive))
        start += 1
      case .categorical(let order):
        var seen = Set<String>()
        for rows in [train] + vocabulary {
          for r in rows.values { seen.insert(r[c]) }
        }
        var codes: [String]
        if let order {
          if let unknown = seen.subtracting(order).sorted().first {
            let rows = ([train] + vocabulary).first { $0.values.contains { $0[c] == unknown } }!
            let r = rows.values.firstIndex { $0[c] == unknown }!
            throw DataError("\(rows.file): line \(rows.lines[r]): unknown \(column.name) category '\(unknown)'")
          }
          codes = order.filter { seen.contains($0) }
        } else {
          codes = seen.sorted()
        }
        means.append(0)
        stds.append(1)
        categories.append(codes)
        features.append(FeatureGroup(
          name: column.name, start: start, width: codes.count,
          categories: codes.map { column.displayNames[$0] ?? $0 }, isSensitive: column.isSensitive))
        start += codes.count
      }
    }
    return TabularEncoder(columns: columns, categories: categories, means: means, standardDeviations: stds,
                          features: features)
  }

  /// Encodes `rows` as inputs `[rows.count, width]`: standardised numerics and one-hot groups in
  /// `features` order. A non-number or an unknown category throws a `DataError` naming the line.
  public func encode(_ rows: TabularRows) throws -> Tensor {
    let d = width
    let storage = TensorStorage(count: rows.count * d, repeating: 0)
    let index: [[String: Int]] = categories.map { codes in
      Dictionary(uniqueKeysWithValues: codes.enumerated().map { ($0.element, $0.offset) })
    }
    for r in 0..<rows.count {
      guard rows.values[r].count == columns.count else {
        let found = rows.values[r].count
        throw DataError("\(rows.file): line \(rows.lines[r]): expected \(columns.count) values, found \(found)")
      }
      let out = storage.pointer + r * d
      for (c, column) in columns.enumerated() {
        let group = features[c]
        switch column.kind {
        case .numeric:
          let v = try TabularEncoder.value(rows, row: r, column: c, spec: column)
          out[group.start] = (v - means[c]) / standardDeviations[c]
        case .categorical:
          let code = rows.values[r][c]
          guard let k = index[c][code] else {
            throw DataError("\(rows.file): line \(rows.lines[r]): unknown \(column.name) category '\(code)'")
          }
          out[group.start + k] = 1
        }
      }
    }
    return Tensor(shape: [rows.count, d], storage: storage)
  }

  /// The transformed numeric value of one cell.
  static func value(_ rows: TabularRows, row r: Int, column c: Int, spec: TabularColumn) throws -> Float {
    let text = rows.values[r][c]
    guard let v = Double(text), v.isFinite else {
      throw DataError("\(rows.file): line \(rows.lines[r]): \(spec.name) '\(text)' is not a number")
    }
    if case .numeric(log1p: true) = spec.kind {
      guard v > -1 else {
        throw DataError("\(rows.file): line \(rows.lines[r]): \(spec.name) \(text) <= -1 cannot take log1p")
      }
      return Float(Foundation.log1p(v))
    }
    return Float(v)
  }
}

/// A tabular train/test split together with the encoder fitted on its train part.
public struct TabularSplit: Sendable {
  /// Encoded train and test sets.
  public var split: DatasetSplit
  /// The preprocessing (vocabularies, train means and standard deviations).
  public var encoder: TabularEncoder
}

/// Generic tabular preprocessing shared by the Adult, German credit and COMPAS loaders.
public enum TabularDataset {
  /// Fits a `TabularEncoder` on `train` (vocabulary from train and test) and encodes both into
  /// datasets named `name`, inputs `[N, D]`, with the encoder's feature groups.
  public static func make(
    name: String, columns: [TabularColumn], classNames: [String], train: TabularRows, test: TabularRows
  ) throws -> TabularSplit {
    for rows in [train, test] {
      if let r = rows.labels.firstIndex(where: { $0 < 0 || $0 >= classNames.count }) {
        throw DataError("\(rows.file): line \(rows.lines[r]): label \(rows.labels[r]) outside 0..<\(classNames.count)")
      }
    }
    let encoder = try TabularEncoder.fit(columns: columns, train: train, vocabulary: [test])
    let trainSet = Dataset(name: name, inputs: try encoder.encode(train), labels: train.labels,
                           classNames: classNames, features: encoder.features)
    let testSet = Dataset(name: name, inputs: try encoder.encode(test), labels: test.labels,
                          classNames: classNames, features: encoder.features)
    return TabularSplit(split: DatasetSplit(train: trainSet, test: testSet), encoder: encoder)
  }

  /// Splits `rows` with `SeededSplit.stratified(labels:testFraction:seed:)` and calls `make`.
  public static func makeSeededSplit(
    name: String, columns: [TabularColumn], classNames: [String], rows: TabularRows,
    testFraction: Double = 0.2, seed: UInt64 = SeededSplit.defaultSeed
  ) throws -> TabularSplit {
    guard rows.count > 0 else { throw DataError("\(rows.file): no data rows") }
    let (train, test) = SeededSplit.stratified(labels: rows.labels, testFraction: testFraction, seed: seed)
    return try make(name: name, columns: columns, classNames: classNames, train: rows.subset(train),
                    test: rows.subset(test))
  }
}
