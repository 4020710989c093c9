import ModelFool

/// A labelled set of examples, images (`[N, C, H, W]`) or tabular rows (`[N, D]`), with the
/// metadata explanations and reports need.
public struct Dataset: Sendable {
  /// Catalogue name ("digits", "adult", "german", "compas", "imagenet-sample", ...).
  public var name: String
  /// Model-ready inputs, batch first.
  public var inputs: Tensor
  /// One integer class per example.
  public var labels: [Int]
  /// Human-readable class names, indexed by label.
  public var classNames: [String]
  /// Tabular data: the columns that form each original feature; empty for images.
  public var features: [FeatureGroup]

  public init(
    name: String, inputs: Tensor, labels: [Int], classNames: [String], features: [FeatureGroup] = []
  ) {
    precondition(inputs.shape.first == labels.count, "Dataset \(name): \(labels.count) labels for inputs \(inputs.shape)")
    self.name = name
    self.inputs = inputs
    self.labels = labels
    self.classNames = classNames
    self.features = features
  }

  /// Number of examples.
  public var count: Int { labels.count }

  /// Shape of one example (without the batch dimension).
  public var exampleShape: [Int] { Array(inputs.shape.dropFirst()) }
}

/// One original tabular feature and the model-input columns that encode it (one column for a
/// numeric feature, one per category for a one-hot categorical). The same type as the core's
/// ``FeatureSpan``, which models and explanations read from a checkpoint's `feature_groups`.
public typealias FeatureGroup = FeatureSpan

/// A train/test pair from one source.
public struct DatasetSplit: Sendable {
  public var train: Dataset
  public var test: Dataset
  public init(train: Dataset, test: Dataset) {
    self.train = train
    self.test = test
  }
}

/// A data set could not be read: names the file and what is wrong with it.
public struct DataError: SettingsError, Sendable {
  /// The message, one line.
  public var description: String
  public var settings: [String]
  /// An error with `description`, about `settings` (``SettingsError``). Line breaks and other
  /// control characters in it (names and strings quoted from a hostile file) are escaped
  /// (``oneLine(_:)``), so the message stays one line.
  public init(_ description: String, settings: [String] = []) {
    self.description = Self.oneLine(description)
    self.settings = settings
  }

  /// `text` with every line break and control character written as `\u{XX}`.
  public static func oneLine(_ text: String) -> String {
    func breaks(_ scalar: Unicode.Scalar) -> Bool {
      switch scalar.properties.generalCategory {
      case .control, .lineSeparator, .paragraphSeparator: return true
      default: return false
      }
    }
    guard text.unicodeScalars.contains(where: breaks) else { return text }
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      if breaks(scalar) {
        out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
      } else {
        out.append(scalar)
      }
    }
    return String(out)
  }
}
