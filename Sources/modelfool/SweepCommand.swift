import ArgumentParser
import Foundation
import ModelFool
import ModelFoolTraining

/// `modelfool sweep --lambda 0.1,1,10 -- finetune ...`: a ``SweepRun``, one fine-tuning per value.
struct SweepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sweep",
    abstract: "Run a fine-tuning once per value of lambda, learning rate or steps, and plot FSR against accuracy change.",
    discussion: "Everything after `--` is a finetune invocation: `modelfool sweep --lambda 0.1,1,10 -- finetune --objective location`.")

  @OptionGroup var global: GlobalOptions
  @Option(name: .customLong("lambda"), help: "Values of lambda, comma separated.") var lambdas: CommaList<Float>?
  @Option(name: .customLong("lr"), help: "Learning rates, comma separated.") var learningRates: CommaList<Float>?
  @Option(name: .customLong("steps"), help: "Step counts, comma separated.") var steps: CommaList<Int>?
  @Option(help: "Output folder (default runs/sweep/DATASET-OBJECTIVE).") var out: String?
  @Argument(parsing: .postTerminator, help: "finetune and its flags.") var finetune: [String] = []

  func validate() throws {
    guard finetune.first == "finetune" else { throw ValidationError("give the fine-tuning after --: sweep --lambda 1,10 -- finetune [flags]") }
    guard lambdas != nil || learningRates != nil || steps != nil else { throw ValidationError("give at least one of --lambda, --lr, --steps") }
  }

  func run() throws {
    let base: FinetuneCommand
    do { base = try FinetuneCommand.parse(Array(finetune.dropFirst())) } catch {
      throw ValidationError("finetune: " + FinetuneCommand.message(for: error))
    }
    var settings = SweepSettings(finetune: try base.settings())
    (settings.lambdas, settings.learningRates, settings.steps) = (lambdas?.values, learningRates?.values, steps?.values)
    try settings.validate()
    let folder = out ?? base.runOptions.out ?? "runs/sweep/\(settings.finetune.dataset)-\(settings.finetune.objective ?? "default")"
    let root = base.global.datasetsRoot == nil ? try global.root : try base.global.root
    _ = base.global.prepare()  // --threads given after `--` applies too
    let report = try SweepRun(settings: settings, datasetsRoot: root, observer: global.prepare()).run(into: folder)
    if global.json { return try global.printJSON(report) }
    print(report.table())
    print("wrote \(folder)/report.html (the trade-off front) and sweep.json")
  }
}
