import ArgumentParser
import Dispatch
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool finetune`: the model-manipulation attack of Heo et al. (2019), a ``FineTuneRun``.
struct FinetuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "finetune",
    abstract: "Fine-tune a model so its explanations are fooled while its accuracy stays (Heo et al. 2019).")

  @OptionGroup var global: GlobalOptions
  @OptionGroup var runOptions: RunOptions

  @OptionGroup var data: DataOptions
  @Option(parsing: .unconditional, help: "Save the resumable state into the run folder's state/ every N steps (it is also saved on SIGINT and SIGTERM).")
  var checkpointEvery: Int?
  @Option(help: "Continue the interrupted run in this run folder, with its recorded settings (other setting flags are refused).")
  var resume: String?
  @Option(help: "Objective (images: location, topk, center-mass, active; tabular: hide, location, topk).")
  var objective: ObjectiveArgument?
  @Option(help: "Method(s) to fool, comma separated (mean L_F). Default gradcam for images, simplegrad,lrp for tabular.")
  var method: CommaList<ExplanationMethod>?
  @Option(help: "Target layer for Grad-CAM and the _T methods (default: the model's).") var layer: String?
  @Option(name: .customLong("lambda"), parsing: .unconditional, help: "Weight of the fooling loss.") var lambdaWeight: Float?
  @Option(parsing: .unconditional, help: "Adam learning rate.") var lr: Float?
  @OptionGroup var keeping: OutputKeepingOptions
  @Option(parsing: .unconditional, help: "Fine-tuning steps.") var steps: Int?
  @Option(parsing: .unconditional, help: "Minibatch size.") var batchSize: Int?
  @Option(help: "Two classes to swap for the active objective, e.g. 3,8.") var classes: CommaList<Int>?
  @Option(help: "Tabular: features to hide (hide) or to move relevance onto (location), comma separated.")
  var sensitive: CommaList<String>?
  @Option(help: "Methods scored after fine-tuning, comma separated (default: all that apply).")
  var methods: CommaList<ExplanationMethod>?
  @Option(parsing: .unconditional, help: "Held-out examples scored at the end (default: the whole test split).") var evalCount: Int?
  @Flag(help: "Keep a fine-tuning whose held-out accuracy fell to chance (default: it fails and writes nothing).")
  var allowDivergence = false
  @Flag(help: "Start even when the estimated peak memory exceeds the available memory (MemAvailable).")
  var noMemoryCheck = false

  /// The settings the flags give (a CSV table is registered in the catalogue).
  func settings() throws -> FineTuneSettings {
    var settings = FineTuneSettings()
    if let source = try data.source(for: "finetune", accepting: [.dataset, .table, .ilsvrc]) { try settings.use(source) }
    settings.model = runOptions.model?.argument
    if let objective { settings.objective = objective.name }
    settings.methods = method?.values
    settings.layer = layer
    settings.lambda = lambdaWeight
    settings.learningRate = lr
    keeping.apply(to: &settings)
    settings.steps = steps
    settings.batchSize = batchSize
    settings.classes = classes?.values
    settings.sensitive = sensitive?.values
    settings.scored = methods?.values
    settings.evalCount = evalCount
    settings.seed = runOptions.seed
    settings.allowDivergence = allowDivergence ? true : nil
    settings.memoryCheck = noMemoryCheck ? false : nil
    return settings
  }

  func run() throws {
    let settings = try self.settings()
    if let checkpointEvery, checkpointEvery <= 0 {
      throw ValidationError("--checkpoint-every must be positive, got \(checkpointEvery)")
    }
    if resume != nil {
      // Any setting flag makes the settings differ from the defaults.
      guard settings == FineTuneSettings() else {
        throw ValidationError("--resume continues with the run's recorded settings: give no other setting flags")
      }
    } else {
      try settings.validate()
    }
    var run = FineTuneRun(settings: settings, datasetsRoot: try global.root, observer: global.prepare())
    run.outputFolder = runOptions.out
    run.checkpointEvery = checkpointEvery
    run.resumeFolder = resume
    run.stopRequested = Signals.stopRequest()
    run.communicator = Ranks.communicator
    let outcome = try run.run()
    let folder = outcome.folder
    guard Ranks.isRoot else { return }
    try outcome.write(to: folder)
    let report = outcome.report
    guard !global.json else { return try global.printJSON(report.evaluation) }  // training-set scores: report.json
    print(report.text())
    print("fine-tuned in \(String(format: "%.1f", report.run.seconds)) s; wrote \(folder)/model.h5, report.json and report.html")
  }
}
