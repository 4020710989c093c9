import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool audit calibrate`: the clean models' statistics that `audit manipulation
/// --calibration` scores a suspect against.
struct AuditCalibrateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "calibrate", abstract: "Measure clean models (at least 3, one architecture) and write the detector's calibration.")

  @OptionGroup var global: GlobalOptions
  @Option(help: "Clean checkpoints, comma separated.") var models: CommaList<String>
  @OptionGroup var data: DataOptions
  @Option(help: "Methods, comma separated (default: all that apply).") var methods: CommaList<ExplanationMethod>?
  @Option(parsing: .unconditional, help: "Evenly spaced held-out examples.") var count = ManipulationSettings.defaultCount
  @Option(parsing: .unconditional, help: "Weight noise of the brittleness statistic.") var noise: Float = 0.05
  @Option(parsing: .unconditional, help: "Softplus beta of the smoothing statistic.") var beta: Float = 10
  @Flag(help: "Tabular models: add the black-box statistics (surrogate gaps under LIME/KernelSHAP perturbations, LIME/KernelSHAP shares) that expose scaffolds.")
  var blackBox = false
  @Option(help: "A trusted model measured against (adds the reference statistics; give the same one to `audit manipulation`).")
  var reference: String?
  @Option(help: "Calibration file written.") var out = "audit-calibration.json"

  func run() throws {
    guard models.values.count >= 3 else {
      throw TrainingError("a calibration needs at least 3 clean models, got \(models.values.count)", settings: ["models"])
    }
    let claim = try RunFolderClaim(holding: out)  // the run owns the calibration's folder until it is written
    defer { claim.release() }
    let observer = global.prepare()
    let root = try global.root
    try AuditCalibration.checkDistinct(models.values)
    let reports = try models.values.map { path in
      var s = ManipulationSettings(model: path)
      s.data = try data.source(for: "audit calibrate", accepting: [.dataset, .table, .imageFolder, .hdf5])
      (s.methods, s.count, s.noise, s.beta, s.reference, s.blackBox) = (methods?.values, count, noise, beta, reference, blackBox)
      observer.message("measuring \(path)")
      return try ManipulationAudit(settings: s, datasetsRoot: root, observer: observer).run()
    }
    let calibration = try AuditCalibration.make(reports)
    let text = try RunJSON.encode(calibration) + "\n"
    try AtomicFile.write(to: out) { try RunOutputs.writeText(text, to: $0) }
    if global.json { return try global.printJSON(calibration) }
    let loo = calibration.leaveOneOutP
    print(String(format: "calibration of %d clean %@ models; leave-one-out scores (corrected p) %@, %d below %.2g; wrote %@",
                 reports.count, calibration.architecture, loo.map { String(format: "%.2g", $0) }.joined(separator: ", "),
                 loo.filter { $0 < ManipulationSettings.defaultAlpha }.count, ManipulationSettings.defaultAlpha, out))
  }
}
