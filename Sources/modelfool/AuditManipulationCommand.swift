import ArgumentParser
import Foundation
import ModelFool
import ModelFoolTraining

/// `modelfool audit manipulation`: has this model been fine-tuned to fool its explanations? A
/// ``ManipulationAudit``.
struct AuditManipulationCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "manipulation",
    abstract: "Statistics of a suspect model's maps on held-out data, scored against clean models: a verdict on manipulation.")

  @OptionGroup var global: GlobalOptions
  @Option(help: "Suspect checkpoint.") var model: String
  @Option(help: "A trusted model of the same task: adds map similarity at equal predictions.") var reference: String?
  @Option(help: "Calibration of clean models (`audit calibrate`); without one the statistics are reported unscored.") var calibration: String?
  @Option(parsing: .unconditional, help: "False-alarm rate of the verdict: manipulated when the corrected p-value is below it.")
  var alpha = ManipulationSettings.defaultAlpha
  @Option(help: "Verdict rule: p (the corrected p-value below alpha) or rank (its rank among the calibration models' leave-one-out scores, a p-value at most alpha; needs at least 1/alpha - 1 calibration models).")
  var rule = VerdictRule.pValue
  @OptionGroup var data: DataOptions
  @Option(help: "Methods, comma separated (default: all that apply).") var methods: CommaList<ExplanationMethod>?
  @Option(parsing: .unconditional, help: "Evenly spaced held-out examples.") var count = ManipulationSettings.defaultCount
  @Option(parsing: .unconditional, help: "Weight noise of the brittleness statistic, relative to each tensor's spread.") var noise: Float = 0.05
  @Option(parsing: .unconditional, help: "Softplus beta of the smoothing statistic.") var beta: Float = 10
  @Flag(help: "Tabular models: add the black-box statistics (surrogate gaps under LIME/KernelSHAP perturbations, LIME/KernelSHAP shares) that expose scaffolds.")
  var blackBox = false
  @Option(help: "Seed of the weight noise.") var seed: UInt64 = 0

  var settings: ManipulationSettings { get throws {
    var s = ManipulationSettings(model: model)
    (s.reference, s.calibration, s.alpha, s.rule) = (reference, calibration, alpha, rule)
    s.data = try data.source(for: "audit manipulation", accepting: [.dataset, .table, .imageFolder, .hdf5])
    (s.methods, s.count, s.noise, s.beta, s.seed, s.blackBox) = (methods?.values, count, noise, beta, seed, blackBox)
    return s
  } }

  func run() throws {
    let report = try ManipulationAudit(settings: try settings, datasetsRoot: try global.root, observer: global.prepare()).run()
    if global.json { return try global.printJSON(report) }
    print(report.table())
  }
}
