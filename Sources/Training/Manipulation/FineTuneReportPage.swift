import Foundation
import ModelFool
import ModelFoolData

/// `report.html` of a fine-tuning run: settings, the FSR table, loss curves, and before/after
/// explanations of fixed held-out examples for every scored method (PNG files in `pictures/`
/// for images, inline SVG bar charts for tabular rows).
public enum FineTuneReportPage {
  /// Writes `folder/report.html` (and `folder/pictures/*.png`); returns the page's path.
  @discardableResult
  public static func write(
    folder: String, fooled: Model, original: Model, examples: Dataset, objective: any FoolingObjective,
    methods: [ExplanationMethod], layer: String?, curves: [FineTuneRecord], evaluation: FoolingEvaluation,
    settings: [String: String], trainEvaluation: FoolingEvaluation? = nil
  ) throws -> String {
    let pictures = folder + "/pictures"
    try FileManager.default.createDirectory(atPath: pictures, withIntermediateDirectories: true)
    var html = ReportHTML.head(title: "ModelFool fine-tuning report") + """
      <h1>Fine-tuning attack: \(ReportHTML.escape(evaluation.objective)) with \(ReportHTML.escape(settings["methods"] ?? ""))</h1>
      <p>Heo, Joo &amp; Moon (NeurIPS 2019): the weights are fine-tuned with cross-entropy plus an
      interpretation-fooling loss. FSR = fraction of held-out examples whose statistic
      (<code>\(ReportHTML.escape(evaluation.statistic))</code>) lies in the success range <code>\(ReportHTML.escape(evaluation.successRange))</code>.
      The original model's FSR is the baseline.</p>
      <h2>Settings</h2>\(ReportHTML.settingsTable(settings))
      <h2>Fooling success and map similarity (\(evaluation.examples) held-out examples)</h2>
      """
    html += scoreTable(evaluation)
    if let trainEvaluation {
      html += """
        <h2>The same on the \(trainEvaluation.examples) training examples</h2>
        <p>These are the examples the weights were fine-tuned on: their scores show what the attack
        fitted, the held-out scores above whether it carries over to unseen inputs. With only
        \(trainEvaluation.examples) training and \(evaluation.examples) held-out examples each held-out example moves an
        FSR or accuracy by \(String(format: "%.0f", 100 / Double(max(evaluation.examples, 1)))) points: the numbers show that the
        attack runs end to end on a real pretrained ImageNet model and what it does to these photos,
        not a fooling success rate or an accuracy change that would hold on the ImageNet validation set.</p>
        """
      html += scoreTable(trainEvaluation)
    }
    html += "<h2>Training curves</h2>" + curveSVG(curves)
    html += "<h2>Explanations before and after</h2>"
    html += try explanationGallery(
      pictures: pictures, fooled: fooled, original: original, examples: examples, objective: objective,
      methods: methods, layer: layer)
    html += ReportHTML.tail
    let path = folder + "/report.html"
    try ReportHTML.write(html, to: path)
    return path
  }

  /// The FSR and map-similarity table of one evaluation, then its accuracy (and fairness).
  static func scoreTable(_ evaluation: FoolingEvaluation) -> String {
    var html = "<table><tr><th class=l>method</th><th>FSR fooled</th><th>FSR original</th><th title='FSR of the fooled model on the examples where the original map is not already a success'>FSR where original failed</th><th>Spearman</th><th>top-k</th><th>PCC</th><th>SSIM</th><th>MSE</th></tr>"
    for m in evaluation.methods {
      html += "<tr><td class=l>\(m.method)</td>" + [
        String(format: "%.1f%%", 100 * m.fsr.fooled), String(format: "%.1f%%", 100 * m.fsr.original),
        m.fsrWhereOriginalFailed.map { String(format: "%.1f%%", 100 * $0) } ?? "-", String(format: "%.3f", m.spearman), String(format: "%.3f", m.topKIntersection), String(format: "%.3f", m.pcc),
        m.ssim.map { String(format: "%.3f", $0) } ?? "-", String(format: "%.4f", m.mse),
      ].map { "<td>\($0)</td>" }.joined() + "</tr>"
    }
    html += "</table>"
    html += String(
      format: "<p>Top-1 accuracy: original %.4f, fooled %.4f (%+.2f points). Top-5: %.4f, %.4f.</p>",
      evaluation.accuracy.original, evaluation.accuracy.fooled, 100 * (evaluation.accuracy.fooled - evaluation.accuracy.original),
      evaluation.top5Accuracy.original, evaluation.top5Accuracy.fooled)
    if let fairness = evaluation.fairness {
      html += "<h2>Fairness</h2><table><tr><th class=l>feature</th><th>demographic parity difference, original</th><th>fooled</th></tr>"
      for (f, v) in fairness.demographicParityDifference.sorted(by: { $0.key < $1.key }) {
        html += String(format: "<tr><td class=l>%@</td><td>%.4f</td><td>%.4f</td></tr>", f as NSString, v.original, v.fooled)
      }
      html += "</table><p>The manipulation hides bias from the explanations; it does not remove it.</p>"
    }
    return html
  }

  /// Before/after pictures: one row per method, one column per example.
  static func explanationGallery(
    pictures: String, fooled: Model, original: Model, examples: Dataset, objective: any FoolingObjective,
    methods: [ExplanationMethod], layer: String?
  ) throws -> String {
    var html = "<table><tr><th class=l>method</th>" + (0..<examples.count).map { "<th>example \($0) (label \(examples.classNames.indices.contains(examples.labels[$0]) ? examples.classNames[examples.labels[$0]] : String(examples.labels[$0])))</th>" }.joined() + "</tr>"
    let spans = objective.kind == .tabular ? try FeatureSpan.features(of: original) : []
    for method in methods {
      html += "<tr><td class=l>\(method.rawValue)</td>"
      var options = ExplanationOptions()
      options.layer = layer
      options.createGraph = false
      let before = try explain(original, examples.inputs, labels: examples.labels, method: method, options: options)
      let after = try explain(fooled, examples.inputs, labels: examples.labels, method: method, options: options)
      for i in 0..<examples.count {
        html += "<td>"
        for (tag, maps) in [("original", before), ("fooled", after)] {
          if objective.kind == .tabular {
            let r = Heatmap.sumPerFeature(
              maps.slice(axis: 0, i..<(i + 1)), features: spans, inputs: examples.inputs.slice(axis: 0, i..<(i + 1))).scalars
            html += "<div class=cap>\(tag)</div>" + HeatmapPicture.featureBars(
              names: spans.map(\.name), relevance: r, sensitive: spans.map(\.isSensitive), title: "\(method.rawValue), \(tag)")
          } else {
            let image = examples.inputs.slice(axis: 0, i..<(i + 1)).reshaped(Array(examples.inputs.shape.dropFirst()))
            let map = maps.slice(axis: 0, i..<(i + 1)).reshaped(Array(maps.shape.dropFirst()))
            let pic = HeatmapPicture.triptych(image: image, heatmap: map, scale: image.shape[1] < 64 ? 3 : 1)
            let name = "\(method.rawValue)-\(i)-\(tag).png"
            try PNGImage.write(rgb: pic.rgb, width: pic.width, height: pic.height, to: pictures + "/" + name)
            html += "<div class=cap>\(tag)</div><img src=\"pictures/\(name)\" alt=\"\(tag) \(method.rawValue) example \(i)\">"
          }
        }
        html += "</td>"
      }
      html += "</tr>"
    }
    return html + "</table>"
  }

  /// Cross-entropy and fooling loss per step, and held-out accuracy, as an inline SVG.
  static func curveSVG(_ curves: [FineTuneRecord]) -> String {
    guard curves.count > 1 else { return "<p>(too few steps to plot)</p>" }
    let width = 720.0, height = 220.0, pad = 40.0
    func line(_ values: [Float], color: String) -> String {
      let finite = values.filter(\.isFinite)
      guard let lo = finite.min(), let hi = finite.max() else { return "" }
      let span = Double(max(hi - lo, 1e-12))
      let points = values.enumerated().compactMap { (i, v) -> String? in
        guard v.isFinite else { return nil }
        let x = pad + (width - 2 * pad) * Double(i) / Double(values.count - 1)
        let y = height - pad - (height - 2 * pad) * Double(v - lo) / span
        return String(format: "%.1f,%.1f", x, y)
      }
      return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
        + String(format: "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" fill=\"%@\">%.3g .. %.3g</text>", width - pad - 120, pad - 8 + (color == "#c0392b" ? 0 : 14), color as NSString, lo, hi)
    }
    let accuracy = curves.map { $0.heldOutAccuracy ?? .nan }
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\">"
      + "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(width - 2 * pad)\" height=\"\(height - 2 * pad)\" fill=\"none\" stroke=\"#999\"/>"
      + line(curves.map(\.crossEntropy), color: "#2471a3") + line(curves.map(\.foolingLoss), color: "#c0392b")
      + line(accuracy, color: "#27ae60")
      + "<text x=\"\(pad)\" y=\"\(height - 10)\" font-size=\"12\">step 1 .. \(curves.count): blue cross-entropy, red fooling loss L_F, green held-out accuracy (each scaled to its own range)</text></svg>"
  }
}
