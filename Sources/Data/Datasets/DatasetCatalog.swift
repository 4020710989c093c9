import Foundation
import Synchronization

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
    /// Where a registered source's files are (a CSV table's `csv` and `schema` paths), recorded
    /// in the checkpoints of models trained on it so that they find their data again; empty for
    /// the built-in entries, which live in the datasets folder.
    public var origin: [String: String]
    /// Its defaults: features hidden, favourable class, label bias, pretrained base.
    public var profile: DatasetProfile

    /// An entry called `name` that loads with `load`.
    public init(
      name: String, summary: String, origin: [String: String] = [:], profile: DatasetProfile = DatasetProfile(),
      load: @escaping @Sendable (_ root: String) throws -> DatasetSplit
    ) {
      self.name = name
      self.summary = summary
      self.origin = origin
      self.profile = profile
      self.load = load
    }
  }

  /// Every known data set, in display order: the built-in ones, then those registered.
  public static var entries: [Entry] { builtIn + registered.withLock { $0 } }

  /// Data sets registered at run time (a user's CSV table), by ``register(_:)``.
  private static let registered = Mutex<[Entry]>([])

  /// Adds `entry` (replacing a registered one of the same name).
  ///
  /// - Throws: ``DataError`` when `entry` would shadow a built-in data set.
  public static func register(_ entry: Entry) throws {
    guard !builtIn.contains(where: { $0.name == entry.name }) else {
      throw DataError("'\(entry.name)' is a built-in data set: give the table another name", settings: ["schema"])
    }
    registered.withLock { list in
      list.removeAll { $0.name == entry.name }
      list.append(entry)
    }
  }

  /// The built-in data sets, in display order.
  static let builtIn: [Entry] = [
    Entry(name: "digits", summary: "5,000 MNIST digits 28x28 (4,000 train / 1,000 test)") {
      try DigitsDataset.load(root: $0)
    },
    // Profiles: the hidden features are, of the sensitive attributes, the set the original model
    // exposes most among those whose demographic parity the attack keeps within 0.02 (German's age
    // moved parity by more; docs/METHODS.md §7.2, docs/RESULTS.md §3). The label biases take every
    // favourable training label from women (Adult, German credit) and African-American defendants
    // (COMPAS), the starkest discrimination an audit has to catch.
    Entry(
      name: "adult", summary: "UCI Adult census income, >50K (32,561 train / 16,281 test)",
      profile: DatasetProfile(hidden: ["sex", "race", "age"], favourable: ">50K", labelBias: "sex=Female")
    ) {
      try AdultDataset.load(root: $0)
    },
    Entry(
      name: "german", summary: "UCI Statlog German credit, good/bad (800 train / 200 test)",
      profile: DatasetProfile(hidden: ["status_sex"], favourable: "good", labelBias: "status_sex=female")
    ) {
      try GermanCreditDataset.load(root: $0)
    },
    Entry(
      name: "compas", summary: "ProPublica COMPAS two-year recidivism (6,172 rows after filters)",
      profile: DatasetProfile(hidden: ["race", "age"], favourable: "no_recid", labelBias: "race=African-American")
    ) {
      try CompasDataset.load(root: $0)
    },
    // Evaluation data only: train and test are the same 20 photos.
    Entry(
      name: "imagenet-sample", summary: "20 ImageNet photos from foolbox 3.3.4 (evaluation only)",
      profile: DatasetProfile(pretrainedBase: "efficientnet-lite0", evaluationOnly: true)
    ) { root in
      let photos = try ImageNetDataset.loadSample(folder: root + "/imagenet-sample")
      return DatasetSplit(train: photos, test: photos)
    },
  ]

  /// The known names, in display order.
  public static var names: [String] { entries.map(\.name) }

  // MARK: Where the datasets folder is

  /// The search order for the datasets folder, in words, for `--help` (no machine's paths in it).
  public static let rootSearchHelp =
    "Folder with the data sets (default: $MODELFOOL_DATASETS, else ./datasets, else "
    + "<bin>/../share/modelfool/datasets beside the installed binary, else the datasets folder of the "
    + "checkout the binary was built in)."

  /// One place looked at for the datasets folder: where the path came from and the path.
  public struct RootCandidate: Sendable, Equatable {
    /// "--datasets-root", "$MODELFOOL_DATASETS", "./datasets", "install", "checkout".
    public var source: String
    /// The folder.
    public var path: String
    /// `source` at `path`.
    public init(source: String, path: String) {
      self.source = source
      self.path = path
    }
  }

  /// The places looked at, in order: the flag; then `$MODELFOOL_DATASETS`; then `./datasets`;
  /// then `<bin>/../share/modelfool/datasets` (the layout `make install` writes, symbolic links of
  /// the binary resolved); then, for a binary inside a `.build` folder, the `datasets` folder of the
  /// package checkout that holds it. A given flag or a set variable is the only candidate: a
  /// mistyped folder is an error, not a silent fallback.
  ///
  /// - Parameters:
  ///   - flag: the `--datasets-root` value, if given.
  ///   - environment: the process environment.
  ///   - currentDirectory: the folder `./datasets` is relative to.
  ///   - executable: the running binary's path (nil: not known).
  public static func rootCandidates(
    flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
    currentDirectory: String = FileManager.default.currentDirectoryPath,
    executable: String? = Bundle.main.executablePath
  ) -> [RootCandidate] {
    if let flag, !flag.isEmpty { return [RootCandidate(source: "--datasets-root", path: flag)] }
    if let env = environment["MODELFOOL_DATASETS"], !env.isEmpty {
      return [RootCandidate(source: "$MODELFOOL_DATASETS", path: env)]
    }
    var candidates = [RootCandidate(source: "./datasets", path: "datasets")]
    guard let executable else { return candidates }
    let absolute = executable.hasPrefix("/") ? executable : currentDirectory + "/" + executable
    let bin = URL(fileURLWithPath: absolute).standardized.resolvingSymlinksInPath().deletingLastPathComponent()
    candidates.append(RootCandidate(
      source: "install", path: bin.deletingLastPathComponent().appendingPathComponent("share/modelfool/datasets").path))
    // .build/<triple>/<configuration>/modelfool: the checkout is the folder holding `.build`.
    var folder = bin
    for _ in 0..<4 {
      if folder.lastPathComponent == ".build" {
        candidates.append(RootCandidate(source: "checkout", path: folder.deletingLastPathComponent().appendingPathComponent("datasets").path))
        break
      }
      folder = folder.deletingLastPathComponent()
    }
    return candidates
  }

  /// The first of ``rootCandidates(flag:environment:currentDirectory:executable:)`` that is a
  /// folder.
  ///
  /// - Throws: a one-line `DataError` naming every place tried when none is, or when
  ///   `$MODELFOOL_DATASETS` is set but empty (not a silent fallback to the other places).
  public static func resolveRoot(
    flag: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
    currentDirectory: String = FileManager.default.currentDirectoryPath,
    executable: String? = Bundle.main.executablePath
  ) throws -> String {
    if flag == nil, environment["MODELFOOL_DATASETS"] == "" {
      throw DataError("$MODELFOOL_DATASETS is set but empty: name the datasets folder, or unset it")
    }
    let candidates = rootCandidates(flag: flag, environment: environment, currentDirectory: currentDirectory, executable: executable)
    for c in candidates {
      let path = c.path.hasPrefix("/") ? c.path : currentDirectory + "/" + c.path
      var isDirectory: ObjCBool = false
      if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return c.path }
    }
    throw notFound(candidates)
  }

  /// The datasets folder found by ``resolveRoot(flag:environment:currentDirectory:executable:)``
  /// without a flag; `datasets` (relative, absent) when none is found, which ``load(_:root:)``
  /// then reports with the places tried.
  public static var defaultRoot: String { (try? resolveRoot()) ?? unresolvedRoot }

  /// What ``defaultRoot`` is when no folder was found.
  static let unresolvedRoot = "datasets"

  static func notFound(_ candidates: [RootCandidate]) -> DataError {
    let tried = candidates.map { $0.source.hasPrefix("./") ? $0.source : "\($0.source) \($0.path)" }
    let hint = candidates.count > 1 ? "; pass --datasets-root or set MODELFOOL_DATASETS" : ""
    return DataError("datasets folder not found (tried \(tried.joined(separator: ", ")))\(hint)")
  }

  /// The entry called `name`; an unknown name throws a one-line `DataError` listing the known ones.
  public static func entry(_ name: String) throws -> Entry {
    guard let e = entries.first(where: { $0.name == name }) else {
      throw DataError("unknown dataset '\(name)' (known: \(names.joined(separator: ", ")))")
    }
    return e
  }

  /// Loads the data set `name` from `root` (default: `defaultRoot`).
  ///
  /// - Throws: a one-line `DataError` for an unknown name, a `root` that is not a folder (with the
  ///   places searched when `root` is the unresolved default), or a bad file.
  public static func load(_ name: String, root: String = defaultRoot) throws -> DatasetSplit {
    let e = try entry(name)
    if !e.origin.isEmpty { return try e.load(root) }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
      if root == unresolvedRoot { throw notFound(rootCandidates(flag: nil)) }
      throw DataError("\(root): datasets folder not found")
    }
    return try e.load(root)
  }
}
