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

  @Option(help: "Checkpoint file, or a known model name (\(WeightImport.known.map(\.name).joined(separator: ", "))), imported if missing.")
  var model: String?
  @Option(help: "Catalogue data set (its test split; with --fsr default: the one recorded).") var dataset: DatasetName?
  @Option(help: "ImageNet-layout folder (one subfolder per class) instead of --dataset.") var images: String?
  @Option(help: "HDF5 file with 'images' (uint8 N x H x W x 3, RGB) and 'labels' instead of --dataset.") var h5: String?
  @OptionGroup var table: TableOptions
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
  @Option(help: "With --fsr: stream an ILSVRC-2012 folder (default for a model fine-tuned on imagenet: the recorded one).")
  var dataDir: String?
  @Option(help: "With --data-dir: the split scored (train or val; default val).") var split: ILSVRCFolder.Split?
  @Option(parsing: .unconditional, help: "With --data-dir: at most N files, spread evenly over the split (default: the recorded limit).")
  var limit: Int?
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
    var settings = EvaluationSettings(model: model)
    (settings.original, settings.objective, settings.success, settings.layer) = (original, objective?.name, success, layer)
    (settings.dataset, settings.images, settings.h5) = (try table.dataset(dataset?.name), images, h5)
    (settings.methods, settings.classes, settings.sensitive) = (methods?.values, classes?.values, sensitive?.values)
    settings.evalCount = evalCount
    (settings.dataDir, settings.split, settings.limit, settings.shard) = (dataDir, split, limit, shard)
    if dataDir != nil || shard != nil { settings.batchSize = batchSize }
    if let shard { _ = try EvaluationRun.parseShard(shard) }  // a bad shard fails before the work
    if let saveMaps { _ = try ArrayExport.files(for: [], at: saveMaps) }  // a bad name fails before the work
    var run = EvaluationRun(settings: settings, datasetsRoot: try global.root, observer: observer)
    run.communicator = Ranks.communicator
    let outcome = try run.run(keepingMaps: saveMaps != nil)
    guard Ranks.isRoot else { return }
    if let saveMaps { observer.message("saved " + (try ArrayExport.save(outcome.arrays, to: saveMaps)).joined(separator: ", ")) }
    if let shard, let part = outcome.counts {
      let (i, n) = try EvaluationRun.parseShard(shard)
      let path = counts ?? "fsr-counts-\(i)-of-\(n).json"
      let text = try RunJSON.encode(part) + "\n"
      try AtomicFile.write(to: path) { try RunOutputs.writeText(text, to: $0) }
      observer.message("wrote the counts of shard \(i)/\(n) to \(path); merge every shard with --merge")
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
  func reportAccuracy(_ observer: RunObserver, model: String) throws {
    let network = try WeightImport.resolveModel(model, datasetsRoot: global.root, log: observer.message)
    // Default data: the data set the checkpoint records.
    let named = try table.dataset(dataset?.name) ?? (images == nil && h5 == nil ? Checkpoint.recordedDataset(model) : nil)
    let data = try ModelInputs.evaluationData(for: network, dataset: named, images: images, h5: h5, datasetsRoot: global.root)
    let report = try Predictor.accuracy(network, on: data, batchSize: batchSize)
    guard !global.json else { return try global.printJSON(report) }
    print(String(
      format: "%@ on %@: top-1 %d/%d (%.4f), top-5 %d/%d (%.4f), loss %.4f", model, data.name, report.correctTop1,
      report.count, report.top1, report.correctTop5, report.count, report.top5, report.loss))
  }
}

extension ILSVRCFolder.Split: ExpressibleByArgument {}
