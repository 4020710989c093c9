import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool finetune`: the model-manipulation attack of Heo et al. (2019).
struct FinetuneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "finetune",
    abstract: "Fine-tune a model so its explanations are fooled while its accuracy stays (Heo et al. 2019).")

  @Option(help: "Objective: location, topk, center-mass, active (images); hide, location, topk (tabular).")
  var objective = "location"

  @Option(help: "Explanation method(s) to fool, comma separated: several are fooled at once (mean L_F). Default gradcam for images, simplegrad,lrp for tabular.")
  var method: String?

  @Option(help: "Base checkpoint (default runs/base/DATASET.h5, trained first if missing; tabular hide: runs/base/DATASET-biased.h5, trained on biased labels).")
  var model: String?

  @Option(help: "Data set: \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset = "digits"

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Target layer for Grad-CAM and the _T methods (default: the model's).")
  var layer: String?

  @Option(name: .customLong("lambda"), help: "Weight of the fooling loss.")
  var lambdaWeight: Float?

  @Option(help: "Adam learning rate.")
  var lr: Float?

  @Option(help: "Weight of keeping the outputs on the original model's (default 10 for tabular data, 0 for images).")
  var keepOutputs: Float?

  @Option(help: "Fine-tuning steps.")
  var steps: Int?

  @Option(help: "Minibatch size.")
  var batchSize: Int?

  @Option(help: "Two classes to swap for the active objective, e.g. 3,8.")
  var classes: String?

  @Option(help: "Sensitive features to hide (tabular), comma separated; default per data set.")
  var sensitive: String?

  @Option(help: "Methods scored after fine-tuning: comma list or 'all'.")
  var methods = "all"

  @Option(help: "Held-out examples scored at the end (default: the whole test split).")
  var evalCount: Int?

  @Option(help: "Seed for shuffling (and the base model if it is trained).")
  var seed: UInt64 = 0

  @Option(help: "Output folder (default runs/finetune/DATASET-OBJECTIVE-METHOD[+METHOD...]).")
  var out: String?

  @Flag(help: "Print the final evaluation as one JSON object on stdout.")
  var json = false

  func run() throws {
    let split = FineTuneSetup.fineTuningSplit(try DatasetCatalog.load(dataset, root: datasetsRoot), dataset: dataset, seed: seed)
    let (base, basePath) = try FineTuneSetup.loadOrTrainBase(
      path: model, dataset: dataset, split: split, seed: seed, datasetsRoot: datasetsRoot, objective: objective)
    let labelBias = (try? Checkpoint.metadata(basePath))?["label_bias"]
    if let labelBias {
      FileHandle.standardError.write(Data("base model \(basePath) was trained on biased labels: \(labelBias)\n".utf8))
    }
    let tabular = base.inputShape.count == 1
    let goal = try FineTuneSetup.objective(
      named: objective, model: base, dataset: dataset,
      classes: try classes.map(parseIntegers), features: sensitive.map(parseNames))
    var options = FineTuneSetup.defaults(for: goal, model: base)
    if let method {
      let chosen = try parseNames(method).map(ExplanationMethod.init(parsing:))
      guard let first = chosen.first else { throw ValidationError("--method needs at least one method") }
      options.method = first
      options.alsoFooled = Array(chosen.dropFirst())
    }
    let fooledNames = options.fooledMethods.map(\.rawValue)
    options.layer = layer
    if let lambdaWeight { options.lambda = lambdaWeight }
    if let lr { options.learningRate = lr }
    if let keepOutputs { options.outputConsistency = keepOutputs }
    if let steps { options.steps = steps }
    if let batchSize { options.batchSize = batchSize }
    options.seed = seed
    options.showProgress = true
    let large = FineTuneSetup.isLargeImage(base)
    let scored = try Self.methodList(methods, tabular: tabular, fooled: options.method, large: large)
    let scoreBatch = large ? 4 : 64

    let original = base.deepCopy()
    let fooled = base
    let folder = out ?? "runs/finetune/\(dataset)-\(goal.name)-\(fooledNames.joined(separator: "+"))"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let start = Date()
    let curves = try FineTuner.run(fooled, original: original, train: split.train, heldOut: split.test, options: options)
    let seconds = Date().timeIntervalSince(start)
    let heldOut = evalCount.map { split.test.evenlySpacedSubset($0) } ?? split.test
    let evaluation = try FoolingEvaluator.evaluate(
      fooled: fooled, original: original, data: heldOut, objective: goal, methods: scored, layer: layer,
      batchSize: scoreBatch)
    // Small training sets (the 16 ImageNet photos) are scored too: FSR there shows what the
    // attack fitted, FSR on the held-out photos whether it generalises.
    let trainEvaluation = split.train.count <= Self.smallTrainingSet ? try FoolingEvaluator.evaluate(
      fooled: fooled, original: original, data: split.train, objective: goal, methods: scored, layer: layer,
      batchSize: scoreBatch) : nil
    // The classes and features the objective resolved to (defaults included), so that
    // `evaluate --fsr` scores what was attacked.
    let spans = tabular ? try FeatureSpan.features(of: base) : []
    var resolved = (classes: classes ?? "", features: sensitive ?? "")
    switch goal {
    case .active(let c1, let c2): resolved.classes = "\(c1),\(c2)"
    case .hide(let groups), .featureLocation(let groups):
      resolved.features = groups.map { spans[$0].name }.joined(separator: ",")
    default: break
    }
    let settings: [String: String] = [
      "dataset": dataset, "base_model": basePath, "objective": goal.describe(features: spans), "method": fooledNames.joined(separator: ","),
      "layer": layer ?? fooled.targetLayer, "lambda": "\(options.lambda)", "keep_outputs": "\(options.outputConsistency)", "learning_rate": "\(options.learningRate)",
      "steps": "\(options.steps)", "batch_size": "\(options.batchSize)", "seed": "\(seed)",
      "objective_name": objective, "active_classes": resolved.classes, "sensitive_features": resolved.features,
      "seconds": String(format: "%.1f", seconds), "train_examples": "\(split.train.count)",
      "held_out_examples": "\(split.test.count)", "base_label_bias": labelBias ?? "none",
    ]
    try Checkpoint.save(fooled, to: folder + "/model.h5", metadata: settings)
    let report = FineTuneReport(settings: settings, curves: curves, evaluation: evaluation, trainEvaluation: trainEvaluation)
    try AtomicFile.write(to: folder + "/report.json") { try Data(jsonLine(report).utf8).write(to: URL(fileURLWithPath: $0)) }
    try FineTuneReportPage.write(
      folder: folder, fooled: fooled, original: original, examples: split.test.evenlySpacedSubset(6), objective: goal,
      methods: scored, layer: layer, curves: curves, evaluation: evaluation, settings: settings,
      trainEvaluation: trainEvaluation)
    if json {
      print(try jsonLine(evaluation))  // the training-set scores are in report.json
    } else {
      print(evaluation.table())
      if let trainEvaluation {
        print("\non the \(split.train.count) training examples (fitted, not generalisation):")
        print(trainEvaluation.table().replacingOccurrences(of: "held-out examples", with: "training examples"))
        print(String(format: "top-5 accuracy: held out original %.4f, fooled %.4f; training original %.4f, fooled %.4f",
                     evaluation.top5Accuracy.original, evaluation.top5Accuracy.fooled,
                     trainEvaluation.top5Accuracy.original, trainEvaluation.top5Accuracy.fooled))
      }
      print("fine-tuned in \(String(format: "%.1f", seconds)) s; wrote \(folder)/model.h5, report.json and report.html")
    }
  }

  /// Training sets at most this large are scored after fine-tuning as well as the held-out set.
  static let smallTrainingSet = 64

  /// The methods to score: `all` means every method that applies to the model (without
  /// SmoothGrad for `large` images, see ``FineTuneSetup/isLargeImage(_:)``).
  static func methodList(_ text: String, tabular: Bool, fooled: ExplanationMethod, large: Bool = false) throws -> [ExplanationMethod] {
    if text == "all" {
      let all: [ExplanationMethod] = tabular
        ? [.simpleGrad, .gradTimesInput, .lrp, .integratedGradients, .smoothGrad]
        : [.gradCAM, .lrpTarget, .simpleGradTarget, .simpleGrad, .lrp] + (large ? [] : [.smoothGrad])
      return [fooled] + all.filter { $0 != fooled }
    }
    return try parseNames(text).map(ExplanationMethod.init(parsing:))
  }
}

/// What `finetune` writes to report.json.
struct FineTuneReport: Encodable {
  var settings: [String: String]
  var curves: [FineTuneRecord]
  var evaluation: FoolingEvaluation
  /// The same scores on the training set, for small ones (nil otherwise).
  var trainEvaluation: FoolingEvaluation?
}

/// `"3,8"` -> `[3, 8]`, with a one-line error for anything else.
func parseIntegers(_ text: String) throws -> [Int] {
  try text.split(separator: ",").map {
    guard let v = Int($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("'\(text)' is not a comma-separated list of integers") }
    return v
  }
}

/// `"a, b"` -> `["a", "b"]`.
func parseNames(_ text: String) -> [String] {
  text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
