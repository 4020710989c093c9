import ArgumentParser
import ModelFoolTraining

/// `modelfool biased-background`: Laberge et al.'s attack on KernelSHAP (a
/// ``BiasedBackgroundRun``): the model is left alone, the background rows are chosen so that the
/// sensitive feature's share of the attributions falls while a two-sample test still passes.
struct BiasedBackgroundCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "biased-background",
    abstract: "Choose KernelSHAP background rows that hide a sensitive feature and pass a two-sample test (Laberge et al. 2023).")

  @OptionGroup var global: GlobalOptions
  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)); default: the data set's base model.", valueName: "model"))
  var model: ModelReference?
  @OptionGroup var data: DataOptions
  @Option(help: "Sensitive feature whose share is lowered (default: the data set's first hidden feature).") var sensitive: String?
  @Option(parsing: .unconditional, help: "Test rows explained (the first ones).") var explainedRows = 100
  @Option(parsing: .unconditional, help: "Candidate background rows (train rows drawn without replacement).") var candidates = 200
  @Option(parsing: .unconditional, help: "Background rows (with repetitions); the honest background is the first this many candidates.") var size = 100
  @Option(help: "The auditor's level: every Kolmogorov-Smirnov test must pass at alpha / tests.") var alpha = 0.05
  @Option(parsing: .unconditional, help: "KernelSHAP coalitions sampled beyond 12 players.") var coalitions = 512
  @Option(parsing: .unconditional, help: "Most swaps of the search.") var maxSteps = 2000
  @Option(help: "Seed for the candidates and KernelSHAP's design.") var seed: UInt64 = 0
  @Option(help: "Output folder (report.json, report.txt, honest.csv, background.csv).") var out = "runs/biased-background"

  func run() throws {
    var settings = BiasedBackgroundSettings()
    if let name = try data.catalogueName(for: "biased-background") { settings.dataset = name }
    (settings.model, settings.sensitive, settings.explainedRows, settings.candidates) = (model?.argument, sensitive, explainedRows, candidates)
    (settings.size, settings.alpha, settings.coalitions, settings.maxSteps, settings.seed) = (size, alpha, coalitions, maxSteps, seed)
    let claim = try RunFolderClaim(out)  // the run owns its folder until its files are in place
    defer { claim.release() }
    let outcome = try BiasedBackgroundRun(settings: settings, datasetsRoot: try global.root, observer: global.prepare()).run()
    try outcome.write(to: out)
    guard !global.json else { return try global.printJSON(outcome.report) }
    print(outcome.report.text)
    print("wrote \(out)/report.json, report.txt, honest.csv, background.csv (explain --method kernelshap --background FILE)")
  }
}
