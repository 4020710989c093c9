import Foundation
import ModelFool
import ModelFoolData

extension ScaffoldReport {
  /// The report as text: the run's rules, the detector, the fidelity and one table per explainer
  /// (rates in percent), with Slack et al.'s numbers beside where they report them.
  public var text: String {
    func pct(_ v: Double) -> String { String(format: "%5.1f%%", v * 100) }
    var lines = [
      "scaffold on \(settings.dataset), seed \(settings.seed): f = \(biasedRule); psi = \(innocuousRule)",
      "detector (mlp \(settings.hidden.map(String.init).joined(separator: ","))\(settings.seenValues ? " and the train rows' numeric values" : ""), trained on \(settings.perturbations.rawValue) perturbations, \(trainRows) train rows x \(settings.repeats); threshold \(String(format: "%.4g", threshold))\(settings.realKept.map { String(format: ", keeps %.0f%% of the train rows", $0 * 100) } ?? "")):",
    ]
    for s in detector {
      lines.append("  vs \(s.source.rawValue) perturbations of the \(testRows) test rows: accuracy \(pct(s.accuracy)) (real kept \(pct(s.realKept)), perturbations caught \(pct(s.perturbedCaught)))")
    }
    lines.append("fidelity (scaffold agrees with f on the test rows): \(pct(fidelity))")
    lines.append("explainers: LIME \(settings.limeSamples) samples; KernelSHAP against \(settings.backgroundSize) \(settings.background == .kmeans ? "k-means centres" : "sampled train rows") of the train rows")
    for r in rankings {
      lines.append("\(r.explainer.rawValue), \(r.rows) test rows: rank of |attribution|   1st     2nd     3rd")
      func row(_ name: String, _ rates: RankRates) {
        lines.append("  " + name.padding(toLength: 34, withPad: " ", startingAt: 0) + " \(pct(rates.first))  \(pct(rates.second))  \(pct(rates.third))")
      }
      row("f: \(sensitiveFeature)", r.biasedSensitive)
      row("scaffold: \(sensitiveFeature)", r.scaffoldSensitive)
      for name in innocuousFeatures { if let rates = r.scaffoldInnocuous[name] { row("scaffold: \(name)", rates) } }
      if !innocuousFeatures.isEmpty { lines.append("  top feature moved from \(sensitiveFeature) to \(innocuousFeatures.joined(separator: " or ")): \(pct(r.topFeatureMoved)) of the rows") }
      if let p = r.paper {
        lines.append("  Slack et al.: top feature moved from the sensitive to the innocuous feature on \(pct(p.topFeatureMoved)) of the rows\(p.fidelity.map { ", fidelity \(pct($0))" } ?? "") (\(p.source))")
      }
    }
    lines.append(String(format: "finished in %.1f s", seconds))
    return lines.joined(separator: "\n")
  }
}

extension ScaffoldRun.Outcome {
  /// Checkpoint file names: the scaffold (one model of architecture ``ScaffoldModel/architecture``
  /// holding `f`, `psi` and the detector) and `f` alone, for comparison.
  public static let files = (scaffold: "scaffold.h5", biased: "biased.h5")

  /// Writes `report.json`, `report.txt`, the scaffold and `f` as checkpoints into `folder`, all
  /// or nothing (``RunOutputs``). The networks of a run with synthetic decoys take the decoy
  /// columns as their last inputs, so their checkpoints record no catalogue data set (the
  /// metadata describes the columns); with a real innocuous feature they record the data set, the
  /// default data of `explain`, `evaluate` and `audit`.
  public func write(to folder: String) throws {
    let r = report
    var metadata = ["scaffold_rules": "f: \(r.biasedRule); psi: \(r.innocuousRule)", "seed": "\(r.settings.seed)"]
    if r.settings.innocuous.decoyCount == 0 {
      metadata["dataset"] = r.settings.dataset
    } else {
      metadata["scaffold_data"] = "\(r.settings.dataset) with \(r.innocuousFeatures.joined(separator: ", ")) appended (uniform -1/+1, seed \(r.settings.seed))"
    }
    try RunOutputs.write(into: folder) { staging in
      try RunOutputs.writeText(try RunJSON.encode(r) + "\n", to: staging + "/report.json")
      try RunOutputs.writeText(r.text + "\n", to: staging + "/report.txt")
      try Checkpoint.save(network.model(), to: staging + "/" + Self.files.scaffold, metadata: metadata.merging([
        "role": "scaffold: f on rows the detector takes for real, psi elsewhere", "perturbations": r.settings.perturbations.rawValue,
      ]) { $1 })
      try Checkpoint.save(network.biased, to: staging + "/" + Self.files.biased, metadata: metadata.merging(["role": "biased f"]) { $1 })
    }
  }
}
