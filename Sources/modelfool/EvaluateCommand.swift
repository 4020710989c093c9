import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool evaluate`: accuracy of a model; with `--fsr`, an ``EvaluationRun``.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Accuracy of a model on a data set; with --fsr, the Fooling Success Rate of a fine-tuned model against its original.")

  @OptionGroup var global: GlobalOptions

  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)); with --fsr the fine-tuned one.", valueName: "model"))
  var model: ModelReference?
  @OptionGroup var data: DataOptions
  @Option(parsing: .unconditional, help: "Examples per forward pass.") var batchSize = 32
  @Flag(help: "Score explanation fooling: FSR of --model (fooled) and --original per method, accuracy, map similarity.")
  var fsr = false
  @Option(help: "With --fsr: the original checkpoint (default: the base model recorded in the fooled checkpoint).") var original: String?
  @Option(help: "With --fsr: objective whose statistic is scored (default: the recorded one).") var objective: ObjectiveArgument?
  @Option(help: "With --fsr: explanation methods, comma separated (default: all that apply).") var methods: CommaList<ExplanationMethod>?
  @Option(help: "With --fsr: success range, e.g. '<=0.2' or '>=0.5' (default: the objective's; see docs/METHODS.md).")
  var success: String?
  @Option(help: "With --fsr: target layer (default: the recorded one).") var layer: String?
  @Option(help: "With --fsr: classes of the active objective, e.g. 3,8 (default: recorded).") var classes: CommaList<Int>?
  @Option(help: "With --fsr: sensitive features of the hide objective (default: recorded).") var sensitive: CommaList<String>?
  @Option(parsing: .unconditional, help: "With --fsr: score an evenly spaced subset of this many examples.") var evalCount: Int?
  @Option(help: "With --fsr: save every scored map and both models' logits to FILE.h5, or FILE.npy and FILE.NAME.npy siblings.")
  var saveMaps: String?
  @Option(help: "With --data-dir: score shard i/n only (whole batches) and write its counts for --merge.") var shard: String?
  @Option(help: "With --shard: the count file written (default fsr-counts-I-of-N.json).") var counts: String?
  @Option(parsing: .upToNextOption, help: "Merge the count files of every shard of one evaluation and report it (no other flags needed).")
  var merge: [String] = []

  func validate() throws {
    guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
  }

  func run() throws {
    let observer = global.prepare()
    if !merge.isEmpty { return try mergeCounts() }
    guard let model else { throw ValidationError("--model is required (except with --merge)") }
    guard fsr else { return try reportAccuracy(observer, model: model) }
    // The run owns the folders of the files it writes (maps, counts) until they are in place.
    let countsPath = try shard.map { try counts ?? FoolingCounts.defaultPath(shard: $0) }
    let claims = Ranks.isRoot ? try RunFolderClaim.claims(holding: [saveMaps, countsPath].compactMap { $0 }) : []
    defer { claims.forEach { $0.release() } }
    var settings = EvaluationSettings(model: model.argument)
    (settings.original, settings.objective, settings.success, settings.layer) = (original, objective?.name, success, layer)
    settings.data = try data.source(for: "evaluate --fsr", accepting: Set(DataSource.Kind.allCases))
    (settings.methods, settings.classes, settings.sensitive) = (methods?.values, classes?.values, sensitive?.values)
    settings.evalCount = evalCount
    settings.shard = shard
    if data.dataDir != nil || shard != nil { settings.batchSize = batchSize }
    if let shard { _ = try EvaluationRun.parseShard(shard) }  // a bad shard fails before the work
    if let saveMaps { _ = try ArrayExport.files(for: [], at: saveMaps) }  // a bad name fails before the work
    var run = EvaluationRun(settings: settings, datasetsRoot: try global.root, observer: observer)
    run.communicator = Ranks.communicator
    let outcome = try run.run(keepingMaps: saveMaps != nil)
    guard Ranks.isRoot else { return }
    let written = try outcome.write(maps: saveMaps, counts: countsPath)  // all or none
    if saveMaps != nil { observer.message("saved " + written.filter { $0 != countsPath }.joined(separator: ", ")) }
    if let shard, let countsPath, outcome.counts != nil {
      observer.message("wrote the counts of shard \(shard) to \(countsPath); merge every shard with --merge")
    }
    let evaluation = outcome.evaluation
    if global.json { try global.printJSON(evaluation) } else { print(evaluation.table()) }
  }

  /// `--merge FILES...`: the evaluation of the shards' summed counts.
  func mergeCounts() throws {
    let parts = try merge.map(FoolingCounts.load)
    let evaluation = try FoolingCounts.merge(parts).evaluation()
    if global.json { try global.printJSON(evaluation) } else { print(evaluation.table()) }
  }

  /// Plain accuracy: one line of text, or a JSON object (`top1`, `top5` as fractions, `count`, ...).
  func reportAccuracy(_ observer: RunObserver, model: ModelReference) throws {
    let network = try model.resolve(datasetsRoot: global.root, log: observer.message)
    // Default data: the data set the checkpoint records.
    let source = try data.source(for: "evaluate", accepting: [.dataset, .table, .imageFolder, .hdf5])
      ?? model.checkpointPath.flatMap(Checkpoint.recordedDataset).map(DataSource.dataset)
    guard let source else { throw ValidationError("\(model) records no data set: name the data (--dataset, --csv, --images or --h5)") }
    let data = try source.evaluationData(for: network, datasetsRoot: global.root, log: observer.message)
    let report = try Predictor.accuracy(network, on: data, batchSize: batchSize)
    guard !global.json else { return try global.printJSON(report) }
    print(String(
      format: "%@ on %@: top-1 %d/%d (%.4f), top-5 %d/%d (%.4f), loss %.4f", model.argument, data.name, report.correctTop1,
      report.count, report.top1, report.correctTop5, report.count, report.top5, report.loss))
  }
}

