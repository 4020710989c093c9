import Foundation
import ModelFool
import ModelFoolData

/// Everything that decides an explanation run (`modelfool explain`).
public struct ExplainSettings: Codable, Sendable, Equatable {
  /// The model explained (``ModelReference/init(parsing:)``); nil: the base model of the data set
  /// explained (``ModelReference/baseModel(dataset:biased:)``).
  public var model: String?
  /// Nil: Grad-CAM for image models, SimpleGrad for tabular ones.
  public var method: ExplanationMethod?
  /// The data whose test examples are explained (evenly spaced examples; a catalogue data set, a
  /// CSV table, an image folder or an HDF5 file); not with `inputs`. Nil: the data set the
  /// model's checkpoint records, else `digits`.
  public var data: DataSource?
  /// Image files to explain instead of a data set (their predicted class is explained).
  public var inputs: [String] = []
  /// Test examples explained.
  public var count = 8
  /// Target layer of Grad-CAM and the `_T` methods; nil: the model's.
  public var layer: String?
  /// Explain with every ReLU replaced by softplus(beta); nil: ReLU.
  public var beta: Float?
  /// LRP composite (``LRPComposite/init(parsing:)``).
  public var lrp = "heo"
  public var explainedClass = ExplainedClass.label
  /// KernelSHAP's background rows: `kmeans:K`, the ``KMeans`` centres of the training split (as
  /// `shap.kmeans`, unweighted), or an `.h5` file (its `inputs` dataset, as `--save-maps` writes
  /// it, or its only dataset) or a header-less `.csv` of numbers; nil: a seeded sample of the
  /// training split.
  public var background: String?
  /// The output the black-box methods explain; nil: the probability.
  public var blackBoxOutput: ExplainedOutput?

  /// The defaults: Grad-CAM of 8 digits on the cached base model.
  public init() {}
}

/// An explanation run as a library object: the maps of a few examples, as pictures and arrays.
public struct ExplainRun: Sendable {
  public var settings: ExplainSettings
  /// Folder holding the catalogue's data sets.
  public var datasetsRoot: String
  /// Receives messages (an old checkpoint's warning).
  public var observer: RunObserver

  /// A run of `settings`.
  public init(settings: ExplainSettings, datasetsRoot: String = DatasetCatalog.defaultRoot, observer: RunObserver = .silent) {
    self.settings = settings
    self.datasetsRoot = datasetsRoot
    self.observer = observer
  }

  /// Loads the model and the examples and explains them.
  public func run() throws -> ExplainOutcome {
    guard settings.count > 0 else {
      throw TrainingError("the number of examples must be positive, got \(settings.count)", settings: ["count"])
    }
    var resolved = settings
    if !settings.inputs.isEmpty, let data = settings.data {
      throw TrainingError("explain image files or the \(data), not both", settings: ["inputs"])
    }
    let reference: ModelReference
    if let model = settings.model {
      reference = ModelReference(parsing: model)
      resolved.data = settings.data ?? reference.checkpointPath.flatMap(Checkpoint.recordedDataset).map(DataSource.dataset)
    } else {
      guard let name = try (settings.data ?? .dataset("digits")).catalogueName() else {
        throw TrainingError("\(settings.data!) has no base model: name the model", settings: ["model"])
      }
      reference = .baseModel(dataset: name, biased: false)
      resolved.model = reference.argument
    }
    if settings.inputs.isEmpty, resolved.data == nil { resolved.data = .dataset("digits") }
    let net = try reference.resolve(datasetsRoot: datasetsRoot, log: observer.message)
    net.setTraining(false)
    var options = ExplanationOptions()
    options.layer = settings.layer
    options.beta = settings.beta
    options.lrp = try LRPComposite(parsing: settings.lrp)
    options.createGraph = false
    options.explainedClass = settings.inputs.isEmpty ? settings.explainedClass : .predicted
    let (x, labels) = try loadInputs(net, data: resolved.data)
    let method = settings.method ?? (DataKind(of: net) == .tabular ? .simpleGrad : .gradCAM)
    resolved.method = method
    let kmeans = try settings.background.flatMap(Self.kmeansCount)
    if let background = settings.background, kmeans == nil { options.blackBox.background = try Self.rows(from: background) }
    if let output = settings.blackBoxOutput { options.blackBox.output = output }
    if method.isBlackBox, DataKind(of: net) == .tabular {
      guard settings.inputs.isEmpty else {
        throw TrainingError("\(method) explains the tabular rows of a data set, not image files", settings: ["inputs"])
      }
      guard let name = try resolved.data?.catalogueName() else {
        throw TrainingError("\(method) draws its background from a catalogue data set or table", settings: ["method"])
      }
      try BlackBoxReference.attach(to: [net], methods: [method], dataset: name, datasetsRoot: datasetsRoot)
      if let k = kmeans { options.blackBox.background = KMeans.centres(of: net.explanationReference!, k: k, seed: options.seed) }
    }
    let clock = ContinuousClock.now
    let e = try explanation(net, x, labels: labels ?? [], method: method, options: options)
    let elapsed = ContinuousClock.now - clock
    return ExplainOutcome(
      settings: resolved, model: net, inputs: x, labels: labels, explanation: e,
      predicted: e.logits.argmaxLastAxis(), lrp: method.usesBetaSmoothing ? nil : options.lrp.description,
      seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
  }

  /// The rows of a background file (see ``ExplainSettings/background``), at most 10,000 of them.
  /// `K` of a `kmeans:K` background (nil for a file name); K within 1...10,000.
  static func kmeansCount(_ background: String) throws -> Int? {
    guard background.hasPrefix("kmeans:") else { return nil }
    guard let k = Int(background.dropFirst(7)), (1...10_000).contains(k) else {
      throw TrainingError("background \(background): kmeans:K takes K within 1...10000", settings: ["background"])
    }
    return k
  }

  static func rows(from path: String) throws -> Tensor {
    let limit = 10_000
    if path.hasSuffix(".h5") {
      let file = try HDF5File.open(path)
      let names = try file.datasetPaths()
      guard let name = names.contains("inputs") ? "inputs" : names.count == 1 ? names[0] : nil else {
        throw TrainingError("\(path): no 'inputs' dataset and not exactly one dataset (found \(names.joined(separator: ", ")))", settings: ["background"])
      }
      let shape = try file.shape(at: name)
      guard shape.count == 2, shape[0] > 0, shape[0] <= limit else {
        throw TrainingError("\(path): background '\(name)' has shape \(shape), need [rows, columns] with 1...\(limit) rows", settings: ["background"])
      }
      return try file.readTensor(at: name)
    }
    guard path.hasSuffix(".csv") else { throw TrainingError("\(path): the background must be an .h5 or .csv file", settings: ["background"]) }
    let table = try CSV.parseNumbers(try CSV.fileBytes(path: path), file: path)
    guard table.rows > 0, table.rows <= limit else {
      throw TrainingError("\(path): \(table.rows) background rows, need 1...\(limit)", settings: ["background"])
    }
    return Tensor(shape: [table.rows, table.columns], scalars: table.values)
  }

  /// The batch to explain and its labels (nil for input files, read as `predict` reads them:
  /// ``Predictor/loadInputs(_:for:)``, the model's own preprocessing).
  func loadInputs(_ net: Model, data: DataSource?) throws -> (Tensor, [Int]?) {
    guard let data else { return (try Predictor.loadInputs(settings.inputs, for: net).inputs, nil) }
    let test = try data.evaluationData(for: net, datasetsRoot: datasetsRoot, log: observer.message)
    // Evenly spaced examples, so that a sorted test split still shows several classes.
    let n = min(settings.count, test.count)
    let rows = (0..<n).map { $0 * (test.count / n) }
    return (test.inputs.selectingRows(rows), rows.map { test.labels[$0] })
  }
}

/// The result of an ``ExplainRun``: the explanation of every example, with what pictures need.
public struct ExplainOutcome: @unchecked Sendable {
  public var settings: ExplainSettings
  public var model: Model
  public var inputs: Tensor
  /// The examples' labels (nil for image files).
  public var labels: [Int]?
  public var explanation: Explanation
  public var predicted: [Int]
  /// The LRP composite used (LRP methods only).
  public var lrp: String?
  /// Wall-clock seconds of the explanation itself (loading and pictures excluded).
  public var seconds: Double = 0

  /// A class's name, or its index when the model names none.
  public func className(_ c: Int) -> String { c < model.classNames.count ? model.classNames[c] : String(c) }

  /// Writes one picture per example into `folder` (PNG triptych for images, SVG feature bars for
  /// tabular rows), each atomically; returns their paths in example order.
  public func writePictures(to folder: String) throws -> [String] {
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the output folder \(folder): \(AtomicFile.reason(error))")
    }
    let e = explanation, x = inputs, method = explanation.method
    let tabular = x.rank == 2
    let features = tabular ? try FeatureSpan.features(of: model) : []
    return try (0..<x.shape[0]).map { n in
      let stem = String(format: "%@/%03d_%@_%@", folder, n, method.rawValue, className(e.classes[n]))
      if tabular {
        let spans = features.isEmpty
          ? (0..<x.shape[1]).map { FeatureSpan(name: $0 < model.featureNames.count ? model.featureNames[$0] : "x\($0)", start: $0, width: 1) }
          : features
        let rel = Heatmap.sumPerFeature(e.raw.slice(axis: 0, n..<(n + 1)), features: spans, inputs: x.slice(axis: 0, n..<(n + 1))).scalars
        let svg = HeatmapPicture.featureBars(
          names: spans.map(\.name), relevance: rel, sensitive: spans.map(\.isSensitive),
          title: "\(method.rawValue) relevance, class \(className(e.classes[n])) (predicted \(className(predicted[n])))")
        try AtomicFile.write(to: stem + ".svg") { try svg.write(toFile: $0, atomically: false, encoding: .utf8) }
        return stem + ".svg"
      }
      let map = e.heatmap.slice(axis: 0, n..<(n + 1))
      let image = x.slice(axis: 0, n..<(n + 1)).reshaped(Array(x.shape.dropFirst()))
      let pic = HeatmapPicture.triptych(
        image: image, heatmap: map.reshaped(Array(map.shape.dropFirst())), scale: max(1, 224 / x.shape[2]))
      try PNGImage.write(rgb: pic.rgb, width: pic.width, height: pic.height, to: stem + ".png")
      return stem + ".png"
    }
  }

  /// Writes the pictures into `folder` and, with `maps`, the arrays (``arrays``) to that path,
  /// all together or none: the pictures are staged (``RunOutputs``), the arrays written (all
  /// or none) before the pictures are moved into place. Returns the pictures' and the arrays'
  /// paths.
  public func write(to folder: String, maps: String?) throws -> (pictures: [String], maps: [String]?) {
    var pictures: [String] = [], saved: [String]?
    try RunOutputs.write(into: folder) { staging in
      pictures = try writePictures(to: staging).map { folder + $0.dropFirst(staging.count) }
      saved = try maps.map { try ArrayExport.save(arrays, to: $0) }
    }
    return (pictures, saved)
  }

  /// The arrays behind the pictures, for ``ArrayExport/save(_:to:)``: `heatmaps`, `raw`, `logits`,
  /// `predicted`, `explained`, `labels` (data-set examples only), `inputs`.
  public var arrays: [NamedArray] {
    let e = explanation
    var arrays = [
      NamedArray(name: "heatmaps", tensor: e.heatmap), NamedArray(name: "raw", tensor: e.raw),
      NamedArray(name: "logits", tensor: e.logits), NamedArray(name: "predicted", ints: predicted),
      NamedArray(name: "explained", ints: e.classes),
    ]
    if let labels { arrays.append(NamedArray(name: "labels", ints: labels)) }
    arrays.append(NamedArray(name: "inputs", tensor: inputs))
    return arrays
  }
}
