import Foundation
import ModelFoolData

/// `report.html` of an input attack (`modelfool attack-input`): settings, the summary table, the
/// beta-smoothing sweep, the comparison with model manipulation (with `--versus`), and one row per
/// example with its scores and its picture (`example-<i>.png` from ``InputAttackPictures``).
public enum InputAttackReportPage {
  /// Writes `folder/report.html`; returns its path.
  ///
  /// - Parameters:
  ///   - targetLabels: per example, a description of its target (`example 5 (label 3)`, `frame`).
  ///   - pictures: whether `folder/example-<i>.png` exist (image data).
  @discardableResult
  public static func write(
    folder: String, summary: InputAttackSummary, settings: [String: String], targetLabels: [String], pictures: Bool
  ) throws -> String {
    var html = ReportHTML.head(title: "ModelFool input attack report") + """
      <h1>Input manipulation: \(ReportHTML.escape(summary.method)), \(summary.count) examples</h1>
      <p>Dombrowski et al. (NeurIPS 2019): the input is optimised, the model fixed, so that its
      explanation matches a target map while the output stays. The scores below use the explanation
      of the unmodified network (ReLU, exact max-pool) on the manipulated inputs.</p>
      <h2>Settings</h2>\(ReportHTML.settingsTable(settings))
      <h2>Summary</h2>
      """
    html += ReportHTML.table(
      header: ["statistic", "value"],
      rows: summaryRows(summary).map { [ReportHTML.escape($0.0), $0.1] })
    if let sweep = summary.betaSweep {
      html += """
        <h2>Beta-smoothing defence</h2><p>The same manipulated inputs, explained with every ReLU replaced by
        softplus(beta) on the same weights, against the target explained the same way.</p>
        """
      let ordered = sweep.sorted { (Float($0.key) ?? .infinity) < (Float($1.key) ?? .infinity) }
      html += ReportHTML.table(
        header: ["beta", "PCC to target", "drop from ReLU"],
        rows: ordered.map { [ReportHTML.escape($0.key), String(format: "%.3f", $0.value), String(format: "%+.3f", abs($0.value - summary.pccToTargetMean) < 5e-4 ? 0 : $0.value - summary.pccToTargetMean)] })
    }
    if let comparison = summary.comparison {
      html += """
        <h2>Input manipulation vs model manipulation</h2><p>Same model, method
        (\(ReportHTML.escape(comparison.method))) and target maps, \(comparison.examples) examples. Input manipulation
        optimises each input (the model is untouched); model manipulation fine-tunes the weights once
        (Heo et al. 2019) and explains the clean inputs.</p>
        """
      html += ReportHTML.table(
        header: InputAttackComparison.header, rows: comparison.cells.map { $0.map(ReportHTML.escape) })
    }
    html += "<h2>Examples</h2>"
    if pictures {
      html += "<p class=cap>Pictures: x | x_adv | |x_adv - x| (scaled to its maximum) | h(x) | h(x_adv) | target map.</p>"
    }
    let header = ["example", "label", "target", "PCC to target", "SSIM to target", "PCC to h(x)", "class", "probability change", "L-inf", "L2"]
      + (pictures ? ["picture"] : [])
    let rows = summary.examples.enumerated().map { k, e -> [String] in
      [
        "\(e.index)", "\(e.label)", ReportHTML.escape(targetLabels.indices.contains(k) ? targetLabels[k] : "\(e.targetIndex)"),
        String(format: "%.3f", e.pccToTarget), e.ssimToTarget.map { String(format: "%.3f", $0) } ?? "-",
        String(format: "%.3f", e.pccToOriginal),
        e.labelChanged ? "<b>" + ReportHTML.escape("\(e.originalClass) -> \(e.adversarialClass)") + "</b>" : "\(e.originalClass)",
        String(format: "%+.4f", e.probabilityChange), String(format: "%.3f", e.perturbationLinf), String(format: "%.3f", e.perturbationL2),
      ] + (pictures ? ["<img src=\"example-\(e.index).png\" alt=\"example \(e.index)\">"] : [])
    }
    html += ReportHTML.table(header: header, rows: rows, leftColumns: 3)
    html += ReportHTML.tail
    let path = folder + "/report.html"
    try ReportHTML.write(html, to: path)
    return path
  }

  /// The summary as (statistic, formatted value) pairs.
  static func summaryRows(_ s: InputAttackSummary) -> [(String, String)] {
    var rows = [
      ("mean PCC(h(x_adv), target)", String(format: "%.3f", s.pccToTargetMean)),
      ("mean SSIM(h(x_adv), target)", s.ssimToTargetMean.map { String(format: "%.3f", $0) } ?? "-"),
      ("mean PCC(h(x_adv), h(x))", String(format: "%.3f", s.pccToOriginalMean)),
      ("labels changed", "\(s.labelsChanged) of \(s.count)"),
      ("max |change of the predicted class probability|", String(format: "%.4f", s.maxProbabilityChange)),
      ("mean L-inf of the perturbation", String(format: "%.4f", s.meanPerturbationLinf)),
      ("mean L2 of the perturbation", String(format: "%.4f", s.meanPerturbationL2)),
      ("time", String(format: "%.1f s", s.seconds)),
    ]
    if s.ssimToTargetMean == nil { rows.remove(at: 1) }
    return rows
  }
}
