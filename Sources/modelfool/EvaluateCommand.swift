import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool evaluate`: accuracy of a model on a data set.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Accuracy of a model on a data set; with --fsr, the Fooling Success Rate of a fine-tuned model against its original.")

  @Option(help: "Checkpoint file, or a known model name (\(WeightImport.known.map(\.name).joined(separator: ", "))), imported if missing.")
  var model: String

  @Option(help: "Catalogue data set (its test split): \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset: String?

  @Option(help: "ImageNet-layout folder (one subfolder per class) instead of --dataset.")
  var images: String?

  @Option(help: "HDF5 file with 'images' (uint8 N x H x W x 3, RGB) and 'labels' instead of --dataset.")
  var h5: String?

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Examples per forward pass.")
  var batchSize = 32

  @Flag(help: "Score explanation fooling: FSR of --model (fooled) and --original per method, accuracy, map similarity.")
  var fsr = false

  @Option(help: "With --fsr: the original checkpoint (default: the base model recorded in the fooled checkpoint).")
  var original: String?

  @Option(help: "With --fsr: objective whose statistic is scored (default: the one recorded in the checkpoint).")
  var objective: String?

  @Option(help: "With --fsr: explanation methods, comma list or 'all'.")
  var methods = "all"

  @Option(help: "With --fsr: success range, e.g. '<=0.2' or '>=0.5' (default: the objective's; see README).")
  var success: String?

  @Option(help: "With --fsr: target layer (default: the model's).")
  var layer: String?

  @Option(help: "With --fsr: classes of the active objective, e.g. 3,8 (default: recorded).")
  var classes: String?

  @Option(help: "With --fsr: sensitive features of the hide objective (default: recorded).")
  var sensitive: String?

  @Option(help: "With --fsr: score an evenly spaced subset of this many examples.")
  var evalCount: Int?

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func validate() throws {
    guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
  }

  func run() throws {
    let network = try WeightImport.resolveModel(model, datasetsRoot: datasetsRoot, log: logLine)
    let recorded = fsr ? try Checkpoint.metadata(model) : [:]
    let data = try ModelInputs.evaluationData(
      for: network, dataset: dataset ?? recorded["dataset"], images: images, h5: h5, datasetsRoot: datasetsRoot)
    if fsr {
      try reportFooling(network, recorded: recorded, on: data)
    } else {
      try reportAccuracy(network, on: data)
    }
  }

  /// `--fsr`: FSR of the fooled and the original model per method, with the success range used.
  func reportFooling(_ fooled: Model, recorded: [String: String], on data: Dataset) throws {
    guard let originalPath = original ?? recorded["base_model"] else {
      throw ValidationError("--fsr needs --original ORIGINAL (the checkpoint does not record its base model)")
    }
    let base = try Checkpoint.load(originalPath)
    fooled.setTraining(false)
    base.setTraining(false)
    guard let objectiveName = objective ?? recorded["objective_name"] else {
      throw ValidationError("--fsr needs --objective (location, topk, center-mass, active, hide)")
    }
    let goal = try FineTuneSetup.objective(
      named: objectiveName, model: base, dataset: data.name,
      classes: try (classes ?? recorded["active_classes"].flatMap { $0.isEmpty ? nil : $0 }).map(parseIntegers),
      features: (sensitive ?? recorded["sensitive_features"].flatMap { $0.isEmpty ? nil : $0 }).map(parseNames))
    let tabular = base.inputShape.count == 1
    let fooledWith = recorded["method"].flatMap { try? parseNames($0).first.map(ExplanationMethod.init(parsing:)) } ?? (tabular ? .simpleGrad : .gradCAM)
    let scored = try FinetuneCommand.methodList(methods, tabular: tabular, fooled: fooledWith)
    let range = try success.map(SuccessRange.init(parsing:))
    let subset = evalCount.map { data.evenlySpacedSubset($0) } ?? data
    let evaluation = try FoolingEvaluator.evaluate(
      fooled: fooled, original: base, data: subset, objective: goal, methods: scored, range: range,
      layer: layer ?? recorded["layer"])
    print(json ? try jsonLine(evaluation) : evaluation.table())
  }

  /// Plain accuracy: one line of text, or a JSON object (`top1`, `top5` as fractions, `count`,
  /// `accuracy`, ...).
  func reportAccuracy(_ network: Model, on data: Dataset) throws {
    let report = try Predictor.accuracy(network, on: data, batchSize: batchSize)
    if json {
      print(try jsonLine(report))
    } else {
      print(String(
        format: "%@ on %@: top-1 %d/%d (%.4f), top-5 %d/%d (%.4f), loss %.4f", model, data.name, report.correctTop1,
        report.count, report.top1, report.correctTop5, report.count, report.top5, report.loss))
    }
  }
}
