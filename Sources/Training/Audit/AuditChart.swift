import Foundation

/// Small self-contained SVG charts for the audit and sweep pages: line charts over named steps and
/// a scatter of labelled, linked points.
public enum AuditChart {
  static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
  static let (width, height, left, right, top, bottom) = (440.0, 300.0, 48.0, 110.0, 28.0, 62.0)

  static func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  static func frame(title: String, yRange: (Double, Double), x: (Double) -> Double, y: (Double) -> Double) -> String {
    var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
    s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    s += "<text x=\"\(left)\" y=\"16\" font-size=\"12\">\(esc(title))</text>"
    for i in 0...4 {
      let v = yRange.0 + (yRange.1 - yRange.0) * Double(i) / 4
      s += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(y(v))\" y2=\"\(y(v))\" stroke=\"#ddd\"/>"
      s += "<text x=\"\(left - 4)\" y=\"\(y(v) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>"
    }
    return s
  }

  /// A line per series over the x labels (missing values break the line); `yRange` is widened to
  /// hold every value.
  public static func lines(title: String, xLabels: [String], series: [(name: String, values: [Float?])], yRange: (Double, Double)) -> String {
    let values = series.flatMap { $0.values.compactMap { $0.map(Double.init) } }.filter(\.isFinite)
    let range = (min(yRange.0, values.min() ?? yRange.0), max(yRange.1, values.max() ?? yRange.1))
    let span = max(range.1 - range.0, 1e-9)
    let steps = max(xLabels.count - 1, 1)
    func x(_ i: Double) -> Double { left + (width - left - right) * i / Double(steps) }
    func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - (v - range.0) / span) }
    var s = frame(title: title, yRange: range, x: x, y: y)
    for (i, label) in xLabels.enumerated() {
      s += "<text transform=\"translate(\(x(Double(i))),\(height - bottom + 12)) rotate(35)\">\(esc(label))</text>"
    }
    for (k, line) in series.enumerated() {
      let color = palette[k % palette.count]
      var path = "", pen = false
      for (i, v) in line.values.enumerated() {
        guard let v, v.isFinite else { pen = false; continue }
        path += "\(pen ? "L" : "M")\(x(Double(i))),\(y(Double(v))) "
        pen = true
        s += "<circle cx=\"\(x(Double(i)))\" cy=\"\(y(Double(v)))\" r=\"2.5\" fill=\"\(color)\"/>"
      }
      if !path.isEmpty { s += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.6\"/>" }
      s += "<text x=\"\(width - right + 8)\" y=\"\(top + 14 * Double(k) + 8)\" fill=\"\(color)\">\(esc(line.name))</text>"
    }
    return s + "</svg>\n"
  }

  /// A point of ``scatter(title:xLabel:yLabel:points:)``: a label and an optional link.
  public struct Point: Sendable {
    public var x: Double, y: Double, label: String, link: String?
    public init(x: Double, y: Double, label: String, link: String? = nil) {
      (self.x, self.y, self.label, self.link) = (x, y, label, link)
    }
  }

  /// Labelled points (each a link when it has one), joined in the given order by a thin line.
  public static func scatter(title: String, xLabel: String, yLabel: String, points: [Point]) -> String {
    let xs = points.map(\.x).filter(\.isFinite), ys = points.map(\.y).filter(\.isFinite)
    var xr = (min(xs.min() ?? 0, 0), max(xs.max() ?? 0, 0)), yr = (min(ys.min() ?? 0, 0), max(ys.max() ?? 1, 1))
    if xr.1 - xr.0 < 1e-6 { xr = (xr.0 - 0.01, xr.1 + 0.01) }
    if yr.1 - yr.0 < 1e-6 { yr = (yr.0 - 0.01, yr.1 + 0.01) }
    func x(_ v: Double) -> Double { left + (width - left - right) * (v - xr.0) / (xr.1 - xr.0) }
    func y(_ v: Double) -> Double { top + (height - top - bottom) * (1 - (v - yr.0) / (yr.1 - yr.0)) }
    var s = frame(title: title, yRange: yr, x: x, y: y).replacingOccurrences(
      of: "<svg ", with: "<svg xmlns:xlink=\"http://www.w3.org/1999/xlink\" ")
    for i in 0...4 {
      let v = xr.0 + (xr.1 - xr.0) * Double(i) / 4
      s += "<text x=\"\(x(v))\" y=\"\(height - bottom + 14)\" text-anchor=\"middle\">\(String(format: "%.3f", v))</text>"
    }
    s += "<text x=\"\((left + width - right) / 2)\" y=\"\(height - bottom + 32)\" text-anchor=\"middle\">\(esc(xLabel))</text>"
    s += "<text transform=\"translate(12,\((top + height - bottom) / 2)) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>"
    let finite = points.filter { $0.x.isFinite && $0.y.isFinite }
    if finite.count > 1 {
      s += "<path d=\"" + finite.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(x($0.element.x)),\(y($0.element.y))" }.joined(separator: " ")
        + "\" fill=\"none\" stroke=\"#aaa\" stroke-dasharray=\"3,3\"/>"
    }
    for p in finite {
      var mark = "<circle cx=\"\(x(p.x))\" cy=\"\(y(p.y))\" r=\"4\" fill=\"#1f77b4\"/><text x=\"\(x(p.x) + 6)\" y=\"\(y(p.y) - 6)\">\(esc(p.label))</text>"
      if let link = p.link { mark = "<a href=\"\(esc(link))\" xlink:href=\"\(esc(link))\">\(mark)</a>" }
      s += mark
    }
    return s + "</svg>\n"
  }
}
