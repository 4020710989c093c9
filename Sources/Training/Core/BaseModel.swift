import Foundation
import ModelFool
import ModelFoolData

/// The default base model of each data set: its architecture, builder options and training
/// settings, so that `modelfool train --dataset NAME` and the fine-tuning defaults agree.
public struct BaseModelRecipe: Sendable {
  public var architecture: String
  public var options: [String: String]
  public var training: TrainingOptions

  /// The recipe for `split` (digits: the CNN; tabular data: an MLP sized to its columns).
  public static func forDataset(_ split: DatasetSplit) -> BaseModelRecipe {
    var training = TrainingOptions()
    switch split.train.name {
    case "digits":
      training.epochs = 15
      training.batchSize = 64
      training.learningRate = 3e-3
      training.schedule = .cosine(totalSteps: 15 * ((split.train.count + 63) / 64), floor: 0.05)
      return BaseModelRecipe(architecture: "digits-cnn", options: ["classes": "10"], training: training)
    default:
      // 800 German credit rows overfit a 64-32 MLP: one hidden layer and stronger decay
      // (test accuracy over seeds 0-3: 0.72-0.76 against 0.70-0.73 for the larger net).
      let small = split.train.count < 2000
      training.epochs = small ? 40 : 20
      training.batchSize = 128
      training.learningRate = 1e-3
      training.weightDecay = small ? 1e-2 : 1e-4
      let columns = split.train.exampleShape.reduce(1, *)
      return BaseModelRecipe(
        architecture: "mlp",
        options: ["inputs": "\(columns)", "classes": "\(split.train.classNames.count)", "hidden": small ? "32" : "64,32"],
        training: training)
    }
  }

  /// Builds the untrained model with the data set's names attached.
  public func build(for split: DatasetSplit, seed: UInt64) throws -> Model {
    var opts = options
    opts["seed"] = "\(seed)"
    let model = try ModelZoo.build(architecture: architecture, options: opts)
    model.classNames = split.train.classNames
    if !split.train.features.isEmpty {
      model.featureGroupsJSON = try Checkpoint.json(split.train.features)
      model.featureNames = split.train.features.flatMap { g in
        g.categories.isEmpty ? [g.name] : g.categories.map { "\(g.name)=\($0)" }
      }
    }
    return model
  }
}

/// Trains a base model and saves it; the result of `modelfool train`.
public struct TrainingResult: Codable, Sendable {
  public var dataset: String
  public var architecture: String
  public var checkpoint: String
  public var testAccuracy: Float
  /// How the training labels were biased (``LabelBias``), nil for the recorded labels.
  public var labelBias: String?
  /// Set when the training labels were randomly permuted (`train --shuffle-labels`).
  public var labelShuffle: String?
  public var epochs: [EpochRecord]
  public var seconds: Double
}

extension Trainer {
  /// Trains the recipe's model on `split` and writes it to `checkpoint` (atomically). With
  /// `bias`, the training labels are biased first (the test labels stay as recorded) and the
  /// checkpoint's metadata says how (`label_bias`). With `shuffleLabels`, the training labels are
  /// randomly permuted (seeded by `seed`): the model of the data-randomisation test of Adebayo et
  /// al. (2018), which can only memorise; the metadata records `label_shuffle`. Data parallel over
  /// `communicator`'s ranks, rank 0 writing the checkpoint.
  public static func trainBase(
    _ split: DatasetSplit, recipe: BaseModelRecipe, seed: UInt64, checkpoint: String, bias: LabelBias? = nil,
    shuffleLabels: Bool = false, observer: RunObserver = .silent, communicator: Communicator = SingleProcess()
  ) throws -> (Model, TrainingResult) {
    let start = Date()
    let model = try recipe.build(for: split, seed: seed)
    var training = recipe.training
    training.seed = seed
    var train = split.train
    var metadata = [
      "dataset": split.train.name, "seed": "\(seed)", "epochs": "\(training.epochs)",
      "learning_rate": "\(training.learningRate)", "train_examples": "\(split.train.count)",
      "test_examples": "\(split.test.count)",
    ]
    if let bias {
      let (biased, flipped) = bias.apply(to: train, seed: seed)
      train = biased
      metadata["label_bias"] = bias.describe(classNames: train.classNames) + " (\(flipped) training labels flipped)"
    }
    if shuffleLabels {
      train.labels = shuffledLabels(train.labels, seed: seed)
      metadata["label_shuffle"] = "training labels randomly permuted (seed \(seed))"
    }
    let records = try fit(model, train: train, test: split.test, options: training, observer: observer, communicator: communicator)
    let accuracy = evaluate(model, on: split.test).accuracy
    metadata["test_accuracy"] = String(format: "%.4f", accuracy)
    let folder = (checkpoint as NSString).deletingLastPathComponent
    if communicator.rank == 0 {
      try AtomicFile.createFolder(folder)
      try Checkpoint.save(model, to: checkpoint, metadata: metadata)
    }
    let result = TrainingResult(
      dataset: split.train.name, architecture: recipe.architecture, checkpoint: checkpoint,
      testAccuracy: accuracy, labelBias: metadata["label_bias"], labelShuffle: metadata["label_shuffle"], epochs: records,
      seconds: Date().timeIntervalSince(start))
    return (model, result)
  }

  /// `labels` in a random order (Fisher-Yates with `SeededGenerator(seed:)`): the class counts stay,
  /// every link between an example and its label is broken.
  public static func shuffledLabels(_ labels: [Int], seed: UInt64) -> [Int] {
    var generator = SeededGenerator(seed: seed ^ 0x5348_5546_464C_4521)
    return labels.shuffled(using: &generator)
  }
}
