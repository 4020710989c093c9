import Foundation
import ModelFool
import ModelFoolData

/// A run stopped because training went wrong (NaN/inf loss, bad options); one line.
public struct TrainingError: SettingsError, Sendable {
  /// The message, one line, in the library's terms (settings, not command-line flags).
  public var description: String
  /// The settings the error is about, by their names in the settings documents (`learningRate`,
  /// `lambda`, `sensitive`, ...), most relevant first: a front end maps them to its own words
  /// (the command-line tool to its flags).
  public var settings: [String]
  /// An error with `description`, about `settings`.
  public init(_ description: String, settings: [String] = []) {
    self.description = description
    self.settings = settings
  }
}

/// Settings of a supervised training run.
public struct TrainingOptions: Sendable {
  public var epochs = 5
  public var batchSize = 64
  public var learningRate: Float = 1e-3
  /// `adam` or `sgd` (momentum 0.9).
  public var optimizer = "adam"
  public var weightDecay: Float = 0
  public var schedule: LearningRateSchedule = .constant
  /// Seeds shuffling and dropout; weights are seeded by the model builder.
  public var seed: UInt64 = 0

  public init() {}

  /// The optimiser these options describe.
  public func makeOptimizer() throws -> any Optimizer {
    switch optimizer {
    case "adam": return Adam(learningRate: learningRate, weightDecay: weightDecay)
    case "sgd": return SGD(learningRate: learningRate, momentum: 0.9, weightDecay: weightDecay)
    default: throw TrainingError("unknown optimizer '\(optimizer)' (known: adam, sgd)")
    }
  }
}

/// What happened in one epoch.
public struct EpochRecord: Codable, Sendable {
  public var epoch: Int
  public var loss: Float
  public var trainAccuracy: Float
  public var testAccuracy: Float?
  public var seconds: Double
}

/// Accuracy and loss of a model on a data set.
public struct Evaluation: Codable, Sendable {
  public var accuracy: Float
  public var top5Accuracy: Float
  public var loss: Float
  public var count: Int
}

/// Supervised training and evaluation loops.
public enum Trainer {
  /// Trains `model` on `train` with cross-entropy; evaluates on `test` after each epoch;
  /// reports each step and epoch to `observer`.
  ///
  /// - Throws: ``TrainingError`` when the loss becomes NaN or infinite (the model is then in an
  ///   undefined state and must not be saved).
  ///
  /// Data parallel when `communicator` has several ranks: each rank takes rows `rank, rank +
  /// size, ...` of every global batch and the gradients are summed over the ranks (as
  /// ``FineTuner/train(_:original:on:monitor:options:observer:resume:control:communicator:)``).
  /// Dropout masks then differ from one process's.
  @discardableResult
  public static func fit(
    _ model: Model, train: Dataset, test: Dataset?, options: TrainingOptions, observer: RunObserver = .silent,
    communicator: Communicator = SingleProcess()
  ) throws -> [EpochRecord] {
    guard options.epochs > 0, options.batchSize > 0, options.learningRate > 0 else {
      throw TrainingError("epochs, batch size and learning rate must be positive")
    }
    var optimizer = try options.makeOptimizer()
    var generator = SeededGenerator(seed: options.seed)
    let parameters = model.trainableParameters()
    let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
    var records: [EpochRecord] = []
    var step = 0
    for epoch in 1...options.epochs {
      model.setTraining(true)
      let start = Date()
      let task = "epoch \(epoch)/\(options.epochs)"
      observer.progress(RunProgress(task: task, done: 0, total: stepsPerEpoch, items: 0, unit: "img"))
      var lossSum: Float = 0, correct = 0, seen = 0, done = 0
      let batches = train.batches(size: options.batchSize, shuffle: true, using: &generator)
      if communicator.size > 1 {
        for ids in batches.indexBatches {
          optimizer.learningRate = options.schedule.rate(base: options.learningRate, step: step)
          let mine = communicator.shard(ids)
          let (x, y) = train.gather(mine)
          let reduced = try DataParallel.step(parameters: parameters.map(\.value), rows: mine.count, valueCount: 2, communicator: communicator) {
            let logits = model(x)
            let hits = zip(logits.argmaxLastAxis(), y).filter { $0 == $1 }.count
            return [Tensor.crossEntropy(logits: logits, labels: y), Tensor(Float(hits) / Float(y.count))]
          }
          let value = reduced.values[0]
          guard value.isFinite else {
            throw TrainingError("loss became \(value) at epoch \(epoch), step \(done + 1); lower the learning rate (now \(options.learningRate))", settings: ["learningRate"])
          }
          optimizer.update(parameters, along: reduced.gradients)
          lossSum += value * Float(reduced.rows)
          correct += Int((reduced.values[1] * Float(reduced.rows)).rounded())
          seen += reduced.rows
          done += 1
          step += 1
          observer.progress(RunProgress(task: task, done: done, total: stepsPerEpoch, items: seen, unit: "img", metrics: [
            RunMetric("loss", .loss(Double(lossSum / Float(seen)))),
            RunMetric("acc", .fraction(Double(correct) / Double(seen))),
          ]))
        }
      }
      for batch in batches.prefix(communicator.size > 1 ? 0 : Int.max) {
        optimizer.learningRate = options.schedule.rate(base: options.learningRate, step: step)
        // The step's graph is released before the update, which can then rewrite the weights in place.
        let (value, grads) = try { () throws -> (Float, [Tensor]) in
          let logits = model(batch.inputs)
          let loss = Tensor.crossEntropy(logits: logits, labels: batch.labels)
          let value = loss.scalar
          guard value.isFinite else {
            throw TrainingError("loss became \(value) at epoch \(epoch), step \(done + 1); lower the learning rate (now \(options.learningRate))", settings: ["learningRate"])
          }
          correct += zip(logits.argmaxLastAxis(), batch.labels).filter { $0 == $1 }.count
          return (value, gradients(of: loss, withRespectTo: parameters.map(\.value)))
        }()
        optimizer.update(parameters, along: grads)
        lossSum += value * Float(batch.labels.count)
        seen += batch.labels.count
        done += 1
        step += 1
        observer.progress(RunProgress(task: task, done: done, total: stepsPerEpoch, items: seen, unit: "img", metrics: [
          RunMetric("loss", .loss(Double(lossSum / Float(seen)))),
          RunMetric("acc", .fraction(Double(correct) / Double(seen))),
        ]))
      }
      let testAccuracy = try test.map { test in
        guard communicator.size > 1 else { return evaluate(model, on: test).accuracy }
        model.setTraining(false)
        defer { model.setTraining(true) }
        let s = try DataParallel.scoreBatches(test, communicator: communicator, batchSize: 256) { x, labels in
          (FoolingEvaluator.topCounts(withoutRecording { model(x) }, labels: labels).top1, 0)
        }
        return Float(s.top1) / Float(max(test.count, 1))
      }
      let record = EpochRecord(
        epoch: epoch, loss: lossSum / Float(seen), trainAccuracy: Float(correct) / Float(seen),
        testAccuracy: testAccuracy, seconds: Date().timeIntervalSince(start))
      observer.finished(task, summary: String(format: "loss %.4f, train acc %.4f", record.loss, record.trainAccuracy)
        + (testAccuracy.map { String(format: ", test acc %.4f", $0) } ?? ""))
      records.append(record)
    }
    model.setTraining(false)
    return records
  }

  /// Logits for every example of `data`, in order, in evaluation mode and without recording, in
  /// batches of `batchSize` (nil: 256, fewer for large images: ``Dataset/inferenceBatchSize(preferred:)``).
  public static func logits(_ model: Model, on data: Dataset, batchSize: Int? = nil) -> Tensor {
    let wasTraining = model.isTraining
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }
    return withoutRecording {
      Tensor.concatenate(data.batches(size: batchSize ?? data.inferenceBatchSize(preferred: 256)).map { model($0.inputs) }, alongAxis: 0)
    }
  }

  /// Top-1 / top-5 accuracy and mean cross-entropy on `data`.
  public static func evaluate(_ model: Model, on data: Dataset, batchSize: Int? = nil) -> Evaluation {
    evaluate(logits: logits(model, on: data, batchSize: batchSize), labels: data.labels)
  }

  /// Top-1 / top-5 accuracy and mean cross-entropy of precomputed `[N, classes]` logits.
  public static func evaluate(logits all: Tensor, labels: [Int]) -> Evaluation {
    let classes = all.shape[1]
    let values = all.scalars
    var top1 = 0, top5 = 0
    for (i, label) in labels.enumerated() {
      let row = values[(i * classes)..<((i + 1) * classes)]
      let target = row[row.startIndex + label]
      let better = row.filter { $0 > target }.count
      if better == 0 { top1 += 1 }
      if better < 5 { top5 += 1 }
    }
    let loss = withoutRecording { Tensor.crossEntropy(logits: all, labels: labels).scalar }
    let n = Float(max(labels.count, 1))
    return Evaluation(accuracy: Float(top1) / n, top5Accuracy: Float(top5) / n, loss: loss, count: labels.count)
  }
}
