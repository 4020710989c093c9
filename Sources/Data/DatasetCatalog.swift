import Foundation

/// The named data sets the CLI and the defaults run on, each read from a `datasets/` folder.
///
/// The catalogue is a table: adding a data set is one more `Entry`.
public enum DatasetCatalog {
  /// One catalogue entry: a name, a one-line summary, and how to load it from a root folder.
  public struct Entry: Sendable {
    /// The name used on the command line ("digits").
    public var name: String
    /// One line for `--help` and error messages.
    public var summary: String
    /// Loads the train/test split from the datasets folder.
    public var load: @Sendable (_ root: String) throws -> DatasetSplit

    /// An entry called `name` that loads with `load`.
    public init(name: String, summary: String, load: @escaping @Sendable (_ root: String) throws -> DatasetSplit) {
      self.name = name
      self.summary = summary
      self.load = load
    }
  }

  /// Every known data set, in display order.
  public static let entries: [Entry] = [
    Entry(name: "digits", summary: "5,000 MNIST digits 28x28 (4,000 train / 1,000 test)") {
      try DigitsDataset.load(root: $0)
    },
    Entry(name: "adult", summary: "UCI Adult census income, >50K (32,561 train / 16,281 test)") {
      try AdultDataset.load(root: $0)
    },
    Entry(name: "german", summary: "UCI Statlog German credit, good/bad (800 train / 200 test)") {
      try GermanCreditDataset.load(root: $0)
    },
    Entry(name: "compas", summary: "ProPublica COMPAS two-year recidivism (6,172 rows after filters)") {
      try CompasDataset.load(root: $0)
    },
    // Evaluation data only: train and test are the same 20 photos.
    Entry(name: "imagenet-sample", summary: "20 ImageNet photos from foolbox 3.3.4 (evaluation only)") { root in
      let photos = try ImageNetDataset.loadSample(folder: root + "/imagenet-sample")
      return DatasetSplit(train: photos, test: photos)
    },
  ]

  /// The known names, in display order.
  public static var names: [String] { entries.map(\.name) }

  /// The datasets folder: `$MODELFOOL_DATASETS` when set and non-empty, else `./datasets`
  /// relative to the current directory.
  public static var defaultRoot: String {
    if let env = ProcessInfo.processInfo.environment["MODELFOOL_DATASETS"], !env.isEmpty { return env }
    return FileManager.default.currentDirectoryPath + "/datasets"
  }

  /// The entry called `name`; an unknown name throws a one-line `DataError` listing the known ones.
  public static func entry(_ name: String) throws -> Entry {
    guard let e = entries.first(where: { $0.name == name }) else {
      throw DataError("unknown dataset '\(name)' (known: \(names.joined(separator: ", ")))")
    }
    return e
  }

  /// Loads the data set `name` from `root` (default: `defaultRoot`).
  public static func load(_ name: String, root: String = defaultRoot) throws -> DatasetSplit {
    try entry(name).load(root)
  }
}
