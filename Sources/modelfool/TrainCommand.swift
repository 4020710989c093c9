import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool train`: trains the default base model of a data set and writes its checkpoint.
struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train a base model (digits CNN or tabular MLP) and save an HDF5 checkpoint.")

  @OptionGroup var global: GlobalOptions

  @Option(help: "Data set (default: digits).")
  var dataset: DatasetName?
  @OptionGroup var table: TableOptions

  @Option(parsing: .unconditional, help: "Epochs (default: the data set's recipe).")
  var epochs: Int?

  @Option(parsing: .unconditional, help: "Learning rate (default: the data set's recipe).")
  var lr: Float?

  @Option(parsing: .unconditional, help: "Batch size (default: the data set's recipe).")
  var batchSize: Int?

  @Option(help: "Hidden layer widths of the tabular MLP, e.g. 64,32 (default: the recipe's).")
  var hidden: CommaList<Int>?

  @Option(parsing: .unconditional, help: "L2 weight decay (default: the recipe's).")
  var weightDecay: Float?

  @Option(help: "Plant a bias in the training labels: FEATURE=CATEGORY (tabular data, e.g. sex=Female) loses favourable outcomes.")
  var bias: String?

  @Option(parsing: .unconditional, help: "Probability that a favourable training label of the --bias group is flipped.")
  var biasRate: Double = LabelBias.defaultRate

  @Flag(help: "Train on randomly permuted training labels (the data-randomisation test of `audit sanity`).")
  var shuffleLabels = false

  @Option(help: "Seed for weights and shuffling.")
  var seed: UInt64 = 0

  @Option(help: "Checkpoint path (default runs/base/DATASET.h5; with --bias runs/base/DATASET-biased.h5; with --shuffle-labels runs/base/DATASET-shuffled.h5).")
  var out: String?

  /// The widest hidden layer `--hidden` accepts.
  static let maxHiddenWidth = 100_000
  /// The most weights between consecutive hidden layers (400 MB of Float32).
  static let maxHiddenWeights = 100_000_000

  func validate() throws {
    func positive<T: Comparable & Numeric>(_ value: T?, _ flag: String) throws {
      if let value, !(value > 0) { throw ValidationError("\(flag) must be positive, got \(value)") }
    }
    try positive(epochs, "--epochs")
    try positive(lr, "--lr")
    try positive(batchSize, "--batch-size")
    if shuffleLabels && bias != nil { throw ValidationError("--shuffle-labels and --bias exclude each other") }
    if let weightDecay, !(weightDecay >= 0) { throw ValidationError("--weight-decay must be >= 0, got \(weightDecay)") }
    if let widths = hidden?.values, let bad = widths.first(where: { $0 <= 0 }) {
      throw ValidationError("--hidden takes positive layer widths, got \(bad)")
    }
    if let widths = hidden?.values {
      // Bounded before any allocation: a width of 3000000000 used to abort in the allocator.
      if let wide = widths.first(where: { $0 > Self.maxHiddenWidth }) {
        throw ValidationError("--hidden takes layer widths up to \(Self.maxHiddenWidth), got \(wide)")
      }
      let weights = zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 }
      if weights > Self.maxHiddenWeights {
        throw ValidationError("--hidden \(widths.map(String.init).joined(separator: ",")) makes \(weights) weights between hidden layers, at most \(Self.maxHiddenWeights)")
      }
    }
  }

  func run() throws {
    let observer = global.prepare()
    let dataset = try table.dataset(self.dataset?.name) ?? "digits"
    let split = try DatasetCatalog.load(dataset, root: global.root)
    var recipe = BaseModelRecipe.forDataset(split)
    if let epochs { recipe.training.epochs = epochs }
    if let lr { recipe.training.learningRate = lr }
    if let batchSize { recipe.training.batchSize = batchSize }
    if let weightDecay { recipe.training.weightDecay = weightDecay }
    if let hidden {
      guard recipe.architecture == "mlp" else { throw ValidationError("--hidden applies to tabular MLPs only") }
      recipe.options["hidden"] = hidden.values.map(String.init).joined(separator: ",")
    }
    if case .cosine = recipe.training.schedule {
      let steps = recipe.training.epochs * ((split.train.count + recipe.training.batchSize - 1) / recipe.training.batchSize)
      recipe.training.schedule = .cosine(totalSteps: steps, floor: 0.05)
    }
    let labelBias = try bias.map { try LabelBias.parse($0, rate: biasRate, data: split.train) }
    let path = out ?? (shuffleLabels ? "runs/base/\(dataset)-shuffled.h5" : FineTuneSetup.baseCheckpointPath(dataset: dataset, biased: labelBias != nil))
    observer.message("training \(recipe.architecture) on \(dataset): \(split.train.count) train / \(split.test.count) test examples")
    if let labelBias {
      observer.message("biased training labels: \(labelBias.describe(classNames: split.train.classNames))")
    }
    if shuffleLabels { observer.message("training labels randomly permuted (seed \(seed)): the model can only memorise") }
    let (_, result) = try Trainer.trainBase(
      split, recipe: recipe, seed: seed, checkpoint: path, bias: labelBias, shuffleLabels: shuffleLabels, observer: observer,
      communicator: Ranks.communicator)
    if global.json {
      try global.printJSON(result)
    } else {
      print(String(format: "test accuracy %.4f (%d examples), checkpoint %@, %.1f s", result.testAccuracy, split.test.count, path, result.seconds))
    }
  }
}
