/// The one renderer of the plain-text tables commands print (FSR, audit statistics, sanity
/// checks, input-attack comparisons, sweeps): a header row and rows of cells, each column as wide
/// as its widest cell, the first `leftColumns` columns left-aligned and the rest right-aligned,
/// columns two spaces apart.
public struct TextTable: Sendable, Equatable {
  public var header: [String]
  public var rows: [[String]]
  public var leftColumns: Int

  public init(header: [String], rows: [[String]] = [], leftColumns: Int = 1) {
    self.header = header
    self.rows = rows
    self.leftColumns = leftColumns
  }

  /// The table as lines joined by newlines (no trailing newline; an empty header prints no
  /// line); a short row leaves its last cells empty.
  public func render() -> String {
    let columns = ([header] + rows).map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in [header] + rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ row: [String]) -> String {
      let text = (0..<columns).map { i in
        let cell = i < row.count ? row[i] : ""
        let pad = String(repeating: " ", count: widths[i] - cell.count)
        return i < leftColumns ? cell + pad : pad + cell
      }.joined(separator: "  ")
      return String(text.reversed().drop { $0 == " " }.reversed())
    }
    return ((header.isEmpty ? [] : [header]) + rows).map(line).joined(separator: "\n")
  }
}
