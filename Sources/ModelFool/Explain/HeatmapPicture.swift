import Foundation

/// Colour maps for heatmap pictures.
public enum ColorMap {
  /// Anchors of a perceptually uniform blue-green-yellow map (viridis-like), at 0, 1/8, ..., 1.
  static let sequential: [(Float, Float, Float)] = [
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141), (39, 173, 129), (92, 200, 99),
    (170, 220, 50), (253, 231, 37),
  ]

  /// Sequential colour of `t` in [0, 1] (clamped): linear interpolation between the anchors.
  public static func sequential(_ t: Float) -> (UInt8, UInt8, UInt8) {
    let u = Swift.min(Swift.max(t.isFinite ? t : 0, 0), 1) * Float(sequential.count - 1)
    let i = Swift.min(Int(u), sequential.count - 2)
    let f = u - Float(i)
    let a = sequential[i], b = sequential[i + 1]
    return (UInt8(a.0 + (b.0 - a.0) * f), UInt8(a.1 + (b.1 - a.1) * f), UInt8(a.2 + (b.2 - a.2) * f))
  }

  /// Diverging colour of `t` in [-1, 1]: blue (negative) through white (0) to red (positive).
  public static func diverging(_ t: Float) -> (UInt8, UInt8, UInt8) {
    let v = Swift.min(Swift.max(t.isFinite ? t : 0, -1), 1)
    let (r, g, b): (Float, Float, Float) =
      v >= 0 ? (255, 255 * (1 - v) + 30 * v, 255 * (1 - v) + 30 * v) : (255 * (1 + v) + 40 * -v, 255 * (1 + v) + 90 * -v, 255)
    return (UInt8(r), UInt8(g), UInt8(b))
  }
}

/// A picture of one explanation: image | heatmap | overlay, side by side, as 8-bit RGB.
public enum HeatmapPicture {
  /// Renders `image` (`[C, H, W]`, C = 1 or 3, values in [0, 1]) and its `heatmap` (`[h, w]`),
  /// bilinearly upsampled to `H x W` (``Tensor/resizeBilinear(height:width:)``). A map with negative
  /// values uses the diverging colour map scaled by `max |h|`; otherwise the sequential map scaled
  /// by `max h`. Overlay: `0.5 * gray(image) + 0.5 * colour`. Each panel is enlarged `scale` times
  /// (nearest neighbour) and panels are separated by 4 white pixels.
  ///
  /// - Returns: row-major RGB bytes, width and height.
  public static func triptych(image: Tensor, heatmap: Tensor, scale: Int = 1) -> (rgb: [UInt8], width: Int, height: Int) {
    precondition(image.rank == 3 && heatmap.rank == 2, "triptych: need image [C, H, W] and heatmap [h, w]")
    let (c, h, w) = (image.shape[0], image.shape[1], image.shape[2])
    let up = heatmap.detached().reshaped([1, 1] + heatmap.shape).resizeBilinear(height: h, width: w).scalars
    let px = image.detached().scalars
    let signed = up.contains { $0 < 0 }
    let peak = Swift.max(up.map { signed ? Swift.abs($0) : $0 }.max() ?? 0, 1e-12)
    let gap = 4, s = Swift.max(scale, 1)
    let pw = w * s, ph = h * s
    let width = 3 * pw + 2 * gap
    var out = [UInt8](repeating: 255, count: width * ph * 3)
    for y in 0..<h {
      for x in 0..<w {
        let p = y * w + x
        let rgb: (Float, Float, Float) =
          c >= 3 ? (px[p], px[h * w + p], px[2 * h * w + p]) : (px[p], px[p], px[p])
        let clamp = { (v: Float) in Swift.min(Swift.max(v, 0), 1) * 255 }
        let img = (clamp(rgb.0), clamp(rgb.1), clamp(rgb.2))
        let col = signed ? ColorMap.diverging(up[p] / peak) : ColorMap.sequential(up[p] / peak)
        let gray = (img.0 + img.1 + img.2) / 3
        let over = (0.5 * gray + 0.5 * Float(col.0), 0.5 * gray + 0.5 * Float(col.1), 0.5 * gray + 0.5 * Float(col.2))
        let panels: [(Float, Float, Float)] = [img, (Float(col.0), Float(col.1), Float(col.2)), over]
        for (k, v) in panels.enumerated() {
          for dy in 0..<s {
            for dx in 0..<s {
              let o = ((y * s + dy) * width + k * (pw + gap) + x * s + dx) * 3
              out[o] = UInt8(v.0)
              out[o + 1] = UInt8(v.1)
              out[o + 2] = UInt8(v.2)
            }
          }
        }
      }
    }
    return (out, width, ph)
  }

  /// An SVG horizontal bar chart of per-feature relevance (one bar per feature, red to the right
  /// for positive, blue to the left for negative), sensitive features labelled in bold red with a
  /// `*`.
  public static func featureBars(
    names: [String], relevance: [Float], sensitive: [Bool], title: String
  ) -> String {
    precondition(names.count == relevance.count && names.count == sensitive.count, "featureBars: lengths differ")
    let rowH = 18, labelW = 190, barW = 300, top = 36
    let height = top + rowH * names.count + 24
    let peak = Swift.max(relevance.map { Swift.abs($0) }.max() ?? 0, 1e-12)
    func esc(_ s: String) -> String {
      s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;")
    }
    let mid = labelW + barW / 2
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(labelW + barW + 90)" height="\(height)" font-family="sans-serif" font-size="12">
      <rect width="100%" height="100%" fill="white"/>
      <text x="8" y="20" font-size="14">\(esc(title))</text>
      <line x1="\(mid)" y1="\(top - 4)" x2="\(mid)" y2="\(top + rowH * names.count)" stroke="#888"/>

      """
    for (i, name) in names.enumerated() {
      let y = top + i * rowH
      let v = relevance[i]
      let len = Int((Swift.abs(v) / peak) * Float(barW / 2 - 4))
      let x = v >= 0 ? mid : mid - len
      let label = sensitive[i] ? "* \(name)" : name
      let style = sensitive[i] ? " fill=\"#b00\" font-weight=\"bold\"" : ""
      svg += "<text x=\"\(labelW - 6)\" y=\"\(y + 13)\" text-anchor=\"end\"\(style)>\(esc(label))</text>\n"
      svg += "<rect x=\"\(x)\" y=\"\(y + 3)\" width=\"\(Swift.max(len, 1))\" height=\"\(rowH - 6)\" fill=\"\(v >= 0 ? "#d6604d" : "#4393c3")\"/>\n"
      svg += "<text x=\"\(labelW + barW + 4)\" y=\"\(y + 13)\">\(String(format: "%+.3g", v))</text>\n"
    }
    svg += "<text x=\"8\" y=\"\(height - 8)\" fill=\"#b00\">* sensitive feature</text>\n</svg>\n"
    return svg
  }
}
