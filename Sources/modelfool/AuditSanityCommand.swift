import ArgumentParser
import Foundation
import ModelFool
import ModelFoolTraining

/// `modelfool audit sanity`: the model-parameter and data randomisation tests, a ``SanityCheck``.
struct AuditSanityCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sanity",
    abstract: "Cascading and independent weight randomisation and the permuted-label test: do the maps depend on the model?")

  @OptionGroup var global: GlobalOptions
  @Option(help: "Checkpoint checked.") var model: String
  @OptionGroup var data: DataOptions
  @Option(help: "Methods, comma separated (default: all that apply).") var methods: CommaList<ExplanationMethod>?
  @Option(parsing: .unconditional, help: "Evenly spaced test examples explained.") var count = 32
  @Option(help: "A model trained with `train --shuffle-labels` for the data-randomisation test.") var shuffledModel: String?
  @Option(help: "Seed of the random weights.") var seed: UInt64 = 0
  @Option(help: "Output folder (default runs/audit/sanity-MODEL).") var out: String?

  func run() throws {
    var settings = SanitySettings(model: model)
    settings.data = try data.source(for: "audit sanity", accepting: [.dataset, .table, .imageFolder, .hdf5])
    (settings.methods, settings.count) = (methods?.values, count)
    (settings.shuffledModel, settings.seed) = (shuffledModel, seed)
    let folder = out ?? "runs/audit/sanity-" + ((model as NSString).lastPathComponent as NSString).deletingPathExtension
    let claim = try RunFolderClaim(folder)  // the run owns its folder until its files are in place
    defer { claim.release() }
    let outcome = try SanityCheck(settings: settings, datasetsRoot: try global.root, observer: global.prepare()).run()
    try outcome.write(to: folder)
    if global.json { return try global.printJSON(outcome.report) }
    print(outcome.report.table())
    print("wrote \(folder)/report.json and report.html")
  }
}
