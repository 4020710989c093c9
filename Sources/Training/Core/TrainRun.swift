import Foundation
import ModelFool
import ModelFoolData

/// Everything that decides the training of a base model (`modelfool train`): the data set and
/// the overrides of its recipe (``BaseModelRecipe/forDataset(_:)``); a nil field keeps the recipe's.
public struct TrainSettings: Codable, Sendable, Equatable {
  /// Catalogue data set (or registered CSV table) trained on.
  public var dataset = "digits"
  public var epochs: Int?
  public var learningRate: Float?
  public var batchSize: Int?
  /// Hidden layer widths of the tabular MLP.
  public var hidden: [Int]?
  /// L2 weight decay.
  public var weightDecay: Float?
  /// A bias planted in the training labels, `FEATURE=CATEGORY` (``LabelBias/parse(_:rate:data:)``).
  public var bias: String?
  /// Probability that a favourable training label of the bias group is flipped.
  public var biasRate = LabelBias.defaultRate
  /// Train on randomly permuted labels (the data-randomisation test of `audit sanity`).
  public var shuffleLabels = false
  public var seed: UInt64 = 0
  /// The checkpoint written; nil: ``defaultCheckpoint(biased:)``.
  public var out: String?

  /// The recipe's defaults on `digits`.
  public init() {}

  /// The widest hidden layer accepted.
  public static let maxHiddenWidth = 100_000
  /// The most weights between consecutive hidden layers (400 MB of Float32).
  public static let maxHiddenWeights = 100_000_000

  /// Checks the values before anything is loaded or allocated.
  public func validate() throws {
    func positive<T: Comparable & Numeric>(_ value: T?, _ name: String) throws {
      if let value, !(value > 0) { throw TrainingError("\(name) must be positive, got \(value)", settings: [name]) }
    }
    try positive(epochs, "epochs")
    try positive(learningRate, "learningRate")
    try positive(batchSize, "batchSize")
    if shuffleLabels && bias != nil { throw TrainingError("shuffled labels and a planted bias exclude each other", settings: ["shuffleLabels", "bias"]) }
    if let weightDecay, !(weightDecay >= 0) { throw TrainingError("the weight decay must be >= 0, got \(weightDecay)", settings: ["weightDecay"]) }
    if !(biasRate >= 0 && biasRate <= 1) { throw TrainingError("the bias rate must lie in [0, 1], got \(biasRate)", settings: ["biasRate"]) }
    guard let hidden else { return }
    if let bad = hidden.first(where: { $0 <= 0 }) { throw TrainingError("hidden layer widths must be positive, got \(bad)", settings: ["hidden"]) }
    // Bounded before any allocation: a width of 3000000000 used to abort in the allocator.
    if let wide = hidden.first(where: { $0 > Self.maxHiddenWidth }) {
      throw TrainingError("hidden layer widths go up to \(Self.maxHiddenWidth), got \(wide)", settings: ["hidden"])
    }
    let weights = zip(hidden, hidden.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 }
    if weights > Self.maxHiddenWeights {
      throw TrainingError(
        "hidden layers \(hidden.map(String.init).joined(separator: ",")) make \(weights) weights between them, at most \(Self.maxHiddenWeights)",
        settings: ["hidden"])
    }
  }

  /// The checkpoint written by default: `runs/base/DATASET.h5`, `-biased` with a planted bias,
  /// `-shuffled` with permuted labels.
  public func defaultCheckpoint(biased: Bool) -> String {
    shuffleLabels ? "runs/base/\(dataset)-shuffled.h5" : FineTuneSetup.baseCheckpointPath(dataset: dataset, biased: biased)
  }
}

/// The training of a base model as a library object: the data set's recipe with the settings'
/// overrides, trained and saved as a checkpoint.
public struct TrainRun: Sendable {
  public var settings: TrainSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives progress and messages.
  public var observer: RunObserver
  /// The ranks of a data-parallel job.
  public var communicator: Communicator = SingleProcess()

  /// A run of `settings`.
  public init(settings: TrainSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    (self.settings, self.datasetsRoot, self.observer) = (settings, datasetsRoot, observer)
  }

  /// Trains and saves; returns the checkpoint's path, the result and the test split's size.
  public func run() throws -> (checkpoint: String, result: TrainingResult, testExamples: Int) {
    try settings.validate()
    let split = try DatasetCatalog.load(settings.dataset, root: datasetsRoot)
    var recipe = BaseModelRecipe.forDataset(split)
    if let epochs = settings.epochs { recipe.training.epochs = epochs }
    if let rate = settings.learningRate { recipe.training.learningRate = rate }
    if let size = settings.batchSize { recipe.training.batchSize = size }
    if let decay = settings.weightDecay { recipe.training.weightDecay = decay }
    if let hidden = settings.hidden {
      guard recipe.architecture == "mlp" else { throw TrainingError("hidden layer widths apply to tabular MLPs only", settings: ["hidden"]) }
      recipe.options["hidden"] = hidden.map(String.init).joined(separator: ",")
    }
    if case .cosine = recipe.training.schedule {
      let steps = recipe.training.epochs * ((split.train.count + recipe.training.batchSize - 1) / recipe.training.batchSize)
      recipe.training.schedule = .cosine(totalSteps: steps, floor: 0.05)
    }
    let labelBias = try settings.bias.map { try LabelBias.parse($0, rate: settings.biasRate, data: split.train) }
    let path = settings.out ?? settings.defaultCheckpoint(biased: labelBias != nil)
    observer.message("training \(recipe.architecture) on \(settings.dataset): \(split.train.count) train / \(split.test.count) test examples")
    if let labelBias { observer.message("biased training labels: \(labelBias.describe(classNames: split.train.classNames))") }
    if settings.shuffleLabels {
      observer.message("training labels randomly permuted (seed \(settings.seed)): the model can only memorise")
    }
    let (_, result) = try Trainer.trainBase(
      split, recipe: recipe, seed: settings.seed, checkpoint: path, bias: labelBias, shuffleLabels: settings.shuffleLabels,
      observer: observer, communicator: communicator)
    return (path, result, split.test.count)
  }
}
