import Foundation
import ModelFoolData

/// Pieces shared by the `report.html` pages (fine-tuning, input attack): one style, escaping,
/// tables, and the atomic write.
public enum ReportHTML {
  /// `<!doctype html>` up to the opening `<body>` with the shared style sheet and `title`.
  public static func head(title: String) -> String {
    """
    <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title))</title>
    <style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse}
    td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
    td.l,th.l{text-align:left}img{image-rendering:pixelated;display:block}.cap{font-size:12px;color:#555}</style>
    </head><body>
    """
  }

  /// The closing tags of a page started with ``head(title:)``.
  public static let tail = "</body></html>\n"

  /// `s` with `&`, `<` and `>` escaped for HTML text.
  public static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
  }

  /// A two-column table of settings, sorted by key (keys and values escaped).
  public static func settingsTable(_ settings: [String: String]) -> String {
    "<table>" + settings.sorted { $0.key < $1.key }.map { "<tr><th class=l>\(escape($0.key))</th><td class=l>\(escape($0.value))</td></tr>" }.joined() + "</table>"
  }

  /// A table with a header row; the first `leftColumns` columns are left-aligned. Cells are raw
  /// HTML (escape text with ``escape(_:)``).
  public static func table(header: [String], rows: [[String]], leftColumns: Int = 1) -> String {
    func cells(_ values: [String], tag: String) -> String {
      values.enumerated().map { i, v in i < leftColumns ? "<\(tag) class=l>\(v)</\(tag)>" : "<\(tag)>\(v)</\(tag)>" }.joined()
    }
    return "<table><tr>" + cells(header, tag: "th") + "</tr>" + rows.map { "<tr>" + cells($0, tag: "td") + "</tr>" }.joined() + "</table>"
  }

  /// Writes `html` to `path` atomically (temporary file, then rename).
  public static func write(_ html: String, to path: String) throws {
    try AtomicFile.write(to: path) { try Data(html.utf8).write(to: URL(fileURLWithPath: $0)) }
  }
}
