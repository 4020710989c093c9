import ArgumentParser
import ModelFoolTraining

/// `modelfool scaffold`: Slack et al.'s scaffolding attack on LIME and KernelSHAP (a
/// ``ScaffoldRun``): a model biased on a sensitive feature, hidden behind a detector of the
/// explainers' perturbations that hands them an innocuous model instead.
struct ScaffoldCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "scaffold",
    abstract: "Hide a biased tabular model from LIME and KernelSHAP by scaffolding (Slack et al. 2020).")

  @OptionGroup var global: GlobalOptions
  @OptionGroup var data: DataOptions
  @Option(help: "Sensitive feature f decides from: FEATURE or FEATURE=CATEGORY (default: the data set's first hidden feature).")
  var sensitive: String?
  @Option(help: "What psi decides from: one-decoy, two-decoys (synthetic -1/+1 columns), a numeric FEATURE of the data, same (psi = f: an honest scaffold) or fair (an MLP that never reads the sensitive feature).")
  var innocuous = "one-decoy"
  @Option(help: "What f is: rule (the sensitive group gets the unfavourable class) or trained (the data set's MLP trained on labels biased against the group).")
  var biased = BiasedModelKind.rule
  @Option(help: "Perturbations the detector is trained on: lime, kernelshap or both.") var explainer = PerturbationSource.both
  @Option(parsing: .unconditional, help: "Perturbations per train row.") var repeats = 10
  @Flag(inversion: .prefixedNo, help: "Also require a real row's numeric values to occur in the train rows.") var seenValues = true
  @Option(help: "Set the detector's threshold to pass this fraction of the train rows as real (default 0.99).") var realKept: Double?
  @Option(help: "Hidden layer widths of the detector MLP (default 128,64).") var hidden: CommaList<Int>?
  @Option(parsing: .unconditional, help: "Detector training epochs.") var epochs = 10
  @Option(parsing: .unconditional, help: "Test rows explained.") var explainedRows = 500
  @Option(parsing: .unconditional, help: "LIME samples per explanation.") var limeSamples = 5000
  @Option(help: "KernelSHAP background: kmeans (centres, as Slack et al.) or sample (train rows).") var background = ScaffoldBackground.kmeans
  @Option(parsing: .unconditional, help: "KernelSHAP background rows.") var backgroundSize = 10
  @Option(help: "Seed for decoys, detector and explainer designs.") var seed: UInt64 = 0
  @Option(help: "Output folder (report.json, report.txt, scaffold.h5: the scaffolded model, biased.h5: f alone).") var out = "runs/scaffold"

  func run() throws {
    var settings = ScaffoldSettings()
    if let name = try data.catalogueName(for: "scaffold") { settings.dataset = name }
    (settings.sensitive, settings.innocuous, settings.perturbations, settings.biased) = (sensitive, InnocuousFeature(parsing: innocuous), explainer, biased)
    (settings.repeats, settings.seenValues, settings.hidden) = (repeats, seenValues, hidden?.values ?? settings.hidden)
    (settings.epochs, settings.seed, settings.realKept) = (epochs, seed, realKept ?? settings.realKept)
    (settings.explainedRows, settings.limeSamples, settings.background, settings.backgroundSize) = (explainedRows, limeSamples, background, backgroundSize)
    let claim = try RunFolderClaim(out)  // the run owns its folder until its files are in place
    defer { claim.release() }
    let outcome = try ScaffoldRun(settings: settings, datasetsRoot: try global.root, observer: global.prepare()).run()
    try outcome.write(to: out)
    guard !global.json else { return try global.printJSON(outcome.report) }
    print(outcome.report.text)
    print("wrote \(out)/report.json, report.txt, scaffold.h5, biased.h5")
  }
}

extension PerturbationSource: ExpressibleByArgument {}
extension ScaffoldBackground: ExpressibleByArgument {}
extension BiasedModelKind: ExpressibleByArgument {}
