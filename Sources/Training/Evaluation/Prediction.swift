import Foundation
import ModelFool
import ModelFoolData

/// One class in a prediction: index, name, logit and softmax probability.
public struct ClassScore: Sendable, Codable, Equatable {
  /// Class index (logit position).
  public var classIndex: Int
  /// Class name, or the index as text when the model has no names.
  public var name: String
  /// The logit.
  public var logit: Float
  /// `softmax(logits)[classIndex]`.
  public var probability: Float

  /// A score for class `classIndex`.
  public init(classIndex: Int, name: String, logit: Float, probability: Float) {
    self.classIndex = classIndex
    self.name = name
    self.logit = logit
    self.probability = probability
  }

  enum CodingKeys: String, CodingKey {
    case classIndex = "class", name, logit, probability
  }
}

/// The top classes for one input.
public struct Prediction: Sendable, Codable, Equatable {
  /// What the input was (file name, `file[row]`, `dataset[index]`).
  public var input: String
  /// Classes by decreasing logit.
  public var top: [ClassScore]

  /// The prediction `top` for `input`.
  public init(input: String, top: [ClassScore]) {
    self.input = input
    self.top = top
  }
}

/// Plain accuracy of a model on a labelled data set.
public struct AccuracyReport: Sendable, Codable, Equatable {
  /// Examples evaluated.
  public var count: Int
  /// Fraction whose label has the highest logit (ties count as correct).
  public var top1: Float
  /// Fraction whose label is among the five highest logits.
  public var top5: Float
  /// Same as `top1` (the name other reports use).
  public var accuracy: Float
  /// Examples right at top-1.
  public var correctTop1: Int
  /// Examples right within the top 5.
  public var correctTop5: Int
  /// Mean cross-entropy.
  public var loss: Float
}

/// Predictions and accuracy for the CLI's `predict` and `evaluate`.
public enum Predictor {
  /// The `k` highest classes of each row of `logits` (`[N, classes]`), by decreasing logit (ties:
  /// lower index first), with softmax probabilities.
  public static func topClasses(logits: Tensor, classNames: [String], k: Int) -> [[ClassScore]] {
    precondition(logits.rank == 2, "topClasses: logits must be [N, classes], got \(logits.shape)")
    let classes = logits.shape[1]
    let probabilities = withoutRecording { logits.softmax(alongAxis: 1) }.scalars
    let values = logits.scalars
    return (0..<logits.shape[0]).map { n in
      let base = n * classes
      let order = (0..<classes).sorted { a, b in
        values[base + a] != values[base + b] ? values[base + a] > values[base + b] : a < b
      }
      return order.prefix(max(k, 1)).map { c in
        ClassScore(
          classIndex: c, name: c < classNames.count ? classNames[c] : String(c), logit: values[base + c],
          probability: probabilities[base + c])
      }
    }
  }

  /// Runs `model` (evaluation mode, no recording) on `inputs` and names each row with `labels`.
  public static func predict(_ model: Model, inputs: Tensor, labels: [String], top k: Int = 5, batchSize: Int = 32) throws
    -> [Prediction]
  {
    try ModelInputs.checkShape(inputs, for: model, source: labels.first ?? "input")
    precondition(labels.count == inputs.shape[0], "predict: one label per input row")
    let data = Dataset(name: "predict", inputs: inputs, labels: [Int](repeating: 0, count: labels.count), classNames: [])
    let logits = Trainer.logits(model, on: data, batchSize: batchSize)
    return zip(labels, topClasses(logits: logits, classNames: model.classNames, k: k)).map {
      Prediction(input: $0.0, top: $0.1)
    }
  }

  /// Loads each `--input` for `model`: image files (JPEG/PNG), HDF5 files (`images` or `inputs`;
  /// rows named `file[i]`) and CSV files of encoded rows (`file[i]`). Returns the stacked inputs
  /// and one name per row.
  public static func loadInputs(_ paths: [String], for model: Model) throws -> (inputs: Tensor, names: [String]) {
    guard !paths.isEmpty else { throw DataError("no input given") }
    var parts: [Tensor] = []
    var names: [String] = []
    for path in paths {
      guard FileManager.default.fileExists(atPath: path) else { throw DataError("\(path): file not found") }
      let ext = (path as NSString).pathExtension.lowercased()
      if ext == "csv" || ext == "txt" {
        let rows = try ModelInputs.csvRows(path, for: model)
        parts.append(rows)
        names += (0..<rows.shape[0]).map { "\(path)[\($0)]" }
      } else if ["h5", "hdf5", "hdf"].contains(ext) {
        let rows = try ModelInputs.hdf5(path, for: model)
        parts.append(rows)
        names += (0..<rows.shape[0]).map { "\(path)[\($0)]" }
      } else {
        parts.append(try ModelInputs.image(path, for: model))
        names.append(path)
      }
    }
    return (Tensor.concatenate(parts, alongAxis: 0), names)
  }

  /// Top-1 / top-5 accuracy (``Trainer/evaluate(_:on:batchSize:)``) as a report.
  public static func accuracy(_ model: Model, on data: Dataset, batchSize: Int = 32) throws -> AccuracyReport {
    try ModelInputs.checkShape(data.inputs, for: model, source: data.name)
    let e = Trainer.evaluate(model, on: data, batchSize: batchSize)
    let n = Float(data.count)
    return AccuracyReport(
      count: data.count, top1: e.accuracy, top5: e.top5Accuracy, accuracy: e.accuracy,
      correctTop1: Int((e.accuracy * n).rounded()), correctTop5: Int((e.top5Accuracy * n).rounded()), loss: e.loss)
  }
}
