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

  @OptionGroup var data: DataOptions

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

  func run() throws {
    var settings = TrainSettings()
    if let name = try data.catalogueName(for: "train") { settings.dataset = name }
    (settings.epochs, settings.learningRate, settings.batchSize) = (epochs, lr, batchSize)
    (settings.hidden, settings.weightDecay, settings.bias, settings.biasRate) = (hidden?.values, weightDecay, bias, biasRate)
    (settings.shuffleLabels, settings.seed, settings.out) = (shuffleLabels, seed, out)
    try settings.validate()
    var run = TrainRun(settings: settings, datasetsRoot: try global.root, observer: global.prepare())
    run.communicator = Ranks.communicator
    let (path, result, testExamples) = try run.run()
    guard !global.json else { return try global.printJSON(result) }
    print(String(format: "test accuracy %.4f (%d examples), checkpoint %@, %.1f s", result.testAccuracy, testExamples, path, result.seconds))
  }
}
