import Foundation

// Implementation note: the reader walks raw UTF-8 bytes (RFC 4180 style: comma separated,
// fields optionally in double quotes with "" for a literal quote, LF or CRLF line ends) so that
// a few MB of CSV parse in milliseconds in a release build. Fields become Strings only at the
// end; numeric matrices (the digits file) skip Strings altogether.

/// A parsed CSV file: a header and rows of string fields, every row as wide as the header.
public struct CSVTable: Sendable {
  /// The file the table came from (for error messages).
  public var file: String
  /// Column names (the first record when the file has a header, else "0", "1", ...).
  public var header: [String]
  /// The data records, each with `header.count` fields.
  public var rows: [[String]]
  /// The 1-based line on which each row starts in the source.
  public var lineNumbers: [Int]

  /// Index of the first column called `name`; throws a `DataError` naming the file when absent.
  public func column(_ name: String) throws -> Int {
    guard let i = header.firstIndex(of: name) else {
      throw DataError("\(file): no column named '\(name)'")
    }
    return i
  }
}

/// A numeric CSV file (no header): `rows x columns` values, row-major.
public struct NumericTable: Sendable {
  /// Number of records.
  public var rows: Int
  /// Fields per record.
  public var columns: Int
  /// `values[r * columns + c]`.
  public var values: [Float]
}

/// A small CSV reader for the shipped data sets.
public enum CSV {
  /// How to split a file into records and fields.
  public struct Options: Sendable {
    /// Field separator byte (`,` by default).
    public var separator: UInt8
    /// Strip spaces and tabs around unquoted fields (the UCI Adult files use ", ").
    public var trimSpaces: Bool
    /// The first non-comment record holds the column names.
    public var hasHeader: Bool
    /// Lines starting with this prefix are skipped (the Adult test file starts with "|1x3 ...").
    public var commentPrefix: String?

    /// Options with the given separator, trimming, header and comment settings.
    public init(separator: UInt8 = UInt8(ascii: ","), trimSpaces: Bool = false, hasHeader: Bool = true,
                commentPrefix: String? = nil) {
      self.separator = separator
      self.trimSpaces = trimSpaces
      self.hasHeader = hasHeader
      self.commentPrefix = commentPrefix
    }
  }

  /// The bytes of `path`, decompressed when the name ends in `.gz`.
  public static func fileBytes(path: String) throws -> [UInt8] {
    if path.hasSuffix(".gz") { return try Gzip.read(path: path) }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): file not found or unreadable")
    }
    return [UInt8](data)
  }

  /// Reads and parses the CSV file at `path` (gzip allowed).
  public static func read(path: String, options: Options = Options()) throws -> CSVTable {
    try parse(fileBytes(path: path), file: path, options: options)
  }

  /// Parses CSV `bytes`; blank lines are skipped. Every record must have as many fields as the
  /// first one, else a one-line `DataError` names `file` and the line.
  public static func parse(_ bytes: [UInt8], file: String, options: Options = Options()) throws -> CSVTable {
    var records: [[String]] = []
    var lines: [Int] = []
    let comment = options.commentPrefix.map { Array($0.utf8) }
    try scan(bytes, file: file, options: options, comment: comment) { fields, line in
      records.append(fields.map { String(decoding: $0, as: UTF8.self) })
      lines.append(line)
    }
    var header: [String]
    if options.hasHeader {
      guard !records.isEmpty else { throw DataError("\(file): empty file (no header)") }
      header = records.removeFirst()
      lines.removeFirst()
    } else {
      header = (0..<(records.first?.count ?? 0)).map(String.init)
    }
    for (r, line) in zip(records, lines) where r.count != header.count {
      throw DataError("\(file): line \(line): expected \(header.count) fields, found \(r.count)")
    }
    return CSVTable(file: file, header: header, rows: records, lineNumbers: lines)
  }

  /// Parses a header-less CSV of numbers into a row-major matrix; every record must have the
  /// same number of fields and every field must be a number.
  public static func parseNumbers(_ bytes: [UInt8], file: String, separator: UInt8 = UInt8(ascii: ",")) throws
    -> NumericTable
  {
    var values: [Float] = []
    values.reserveCapacity(bytes.count / 2)
    var columns = -1
    var rows = 0
    let options = Options(separator: separator, trimSpaces: true, hasHeader: false)
    try scan(bytes, file: file, options: options, comment: nil) { fields, line in
      if columns < 0 { columns = fields.count }
      guard fields.count == columns else {
        throw DataError("\(file): line \(line): expected \(columns) fields, found \(fields.count)")
      }
      for f in fields {
        guard let v = number(f) else {
          throw DataError("\(file): line \(line): '\(String(decoding: f, as: UTF8.self))' is not a number")
        }
        values.append(v)
      }
      rows += 1
    }
    return NumericTable(rows: rows, columns: max(columns, 0), values: values)
  }

  /// A decimal number: fast path for plain non-negative integers, `Float(String)` otherwise.
  static func number(_ field: ArraySlice<UInt8>) -> Float? {
    guard !field.isEmpty else { return nil }
    // Fewer than 10 digits cannot overflow an Int; longer fields (and anything else) take the slow path.
    if field.count < 10 {
      var v = 0
      var plain = true
      for b in field {
        guard b >= 48 && b <= 57 else { plain = false; break }
        v = v * 10 + Int(b - 48)
      }
      if plain { return Float(v) }
    }
    return Float(String(decoding: field, as: UTF8.self))
  }

  /// Splits `bytes` into records of raw field bytes and hands each to `body` with its first line.
  static func scan(
    _ bytes: [UInt8], file: String, options: Options, comment: [UInt8]?,
    _ body: ([ArraySlice<UInt8>], Int) throws -> Void
  ) throws {
    let quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
    let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), sep = options.separator
    let n = bytes.count
    var i = 0
    var line = 1
    var fields: [ArraySlice<UInt8>] = []
    func isBlank(_ b: UInt8) -> Bool { options.trimSpaces && (b == space || b == tab) }

    while i < n {
      // Start of a record: skip blank and comment lines.
      let recordLine = line
      if bytes[i] == lf { i += 1; line += 1; continue }
      if bytes[i] == cr { i += (i + 1 < n && bytes[i + 1] == lf) ? 2 : 1; line += 1; continue }
      if let c = comment, !c.isEmpty, i + c.count <= n, bytes[i..<(i + c.count)].elementsEqual(c) {
        while i < n && bytes[i] != lf && bytes[i] != cr { i += 1 }
        continue
      }
      fields.removeAll(keepingCapacity: true)
      var endOfRecord = false
      while !endOfRecord {
        while i < n && isBlank(bytes[i]) { i += 1 }
        if i < n && bytes[i] == quote {
          // Quoted field: "" is a literal quote; separators and newlines are data.
          i += 1
          var value: [UInt8] = []
          var closed = false
          while i < n {
            let b = bytes[i]
            if b == quote {
              if i + 1 < n && bytes[i + 1] == quote { value.append(quote); i += 2; continue }
              i += 1; closed = true; break
            }
            if b == lf { line += 1 }
            value.append(b); i += 1
          }
          guard closed else { throw DataError("\(file): line \(recordLine): unterminated quoted field") }
          while i < n && isBlank(bytes[i]) { i += 1 }
          fields.append(value[...])
        } else {
          let start = i
          while i < n && bytes[i] != sep && bytes[i] != lf && bytes[i] != cr { i += 1 }
          var end = i
          while end > start && isBlank(bytes[end - 1]) { end -= 1 }
          fields.append(bytes[start..<end])
        }
        // After a field: separator, end of line or end of file.
        if i >= n {
          endOfRecord = true
        } else if bytes[i] == sep {
          i += 1
        } else if bytes[i] == lf || bytes[i] == cr {
          i += (bytes[i] == cr && i + 1 < n && bytes[i + 1] == lf) ? 2 : 1
          line += 1
          endOfRecord = true
        } else {
          throw DataError("\(file): line \(line): unexpected character after a closing quote")
        }
      }
      try body(fields, recordLine)
    }
  }
}
