import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool explain`: heatmap pictures (image | heatmap | overlay) or, for tabular models,
/// per-feature relevance bar charts, for a few examples of a data set or for image files.
struct ExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Explain a model's predictions and write heatmap pictures (PNG) or feature bar charts (SVG).")

  @Option(help: "Checkpoint (default runs/base/digits.h5).")
  var model = "runs/base/digits.h5"

  @Option(help: "Method: \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
  var method = "gradcam"

  @Option(help: "Data set whose test split is explained: \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset: String?

  @Option(parsing: .upToNextOption, help: "Image files (PNG/JPEG) to explain instead of a data set (predicted class).")
  var input: [String] = []

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Number of test examples.")
  var count = 8

  @Option(help: "Target layer for gradcam and the _t methods (default: the model's).")
  var layer: String?

  @Option(help: "Explain with ReLU replaced by softplus(beta).")
  var beta: Float?

  @Option(help: "LRP composite: heo, heo+2b, dombrowski, epsilon[=E], zplus, alphaAbetaB, gamma[=G] (',fold' folds BatchNorm).")
  var lrp = "heo"

  @Option(name: .customLong("class"), help: "Class explained: label or predicted.")
  var explainedClass = "label"

  @Option(help: "Output folder.")
  var out = "runs/explain"

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  struct Item: Encodable {
    var file: String
    var label: Int?
    var explainedClass: Int
    var predicted: Int
  }

  struct Report: Encodable {
    var model: String
    var method: String
    var layer: String?
    var lrp: String?
    var beta: Float?
    var outputs: [Item]
  }

  func run() throws {
    let method = try ExplanationMethod(parsing: self.method)
    guard FileManager.default.fileExists(atPath: model) else {
      throw ValidationError("checkpoint \(model) does not exist (train one with `modelfool train --dataset digits`)")
    }
    let net = try Checkpoint.load(model)
    net.setTraining(false)
    var options = ExplanationOptions()
    options.layer = layer
    options.beta = beta
    options.lrp = try LRPComposite(parsing: lrp)
    options.createGraph = false
    guard let cls = ExplainedClass(rawValue: explainedClass) else {
      throw ValidationError("--class must be label or predicted, got '\(explainedClass)'")
    }
    options.explainedClass = input.isEmpty ? cls : .predicted

    let (x, labels) = try loadInputs(net)
    let e = try explanation(net, x, labels: labels ?? [], method: method, options: options)
    let predicted = e.logits.argmaxLastAxis()
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let name = { (c: Int) in c < net.classNames.count ? net.classNames[c] : String(c) }
    var items: [Item] = []
    let tabular = x.rank == 2
    let features = tabular ? try FeatureSpan.features(of: net) : []
    for n in 0..<x.shape[0] {
      let stem = String(format: "%@/%03d_%@_%@", out, n, method.rawValue, name(e.classes[n]))
      let map = e.heatmap.slice(axis: 0, n..<(n + 1))
      let file: String
      if tabular {
        file = stem + ".svg"
        let spans = features.isEmpty
          ? (0..<x.shape[1]).map { FeatureSpan(name: $0 < net.featureNames.count ? net.featureNames[$0] : "x\($0)", start: $0, width: 1) }
          : features
        let rel = Heatmap.sumPerFeature(e.raw.slice(axis: 0, n..<(n + 1)), features: spans, inputs: x.slice(axis: 0, n..<(n + 1))).scalars
        let svg = HeatmapPicture.featureBars(
          names: spans.map(\.name), relevance: rel, sensitive: spans.map(\.isSensitive),
          title: "\(method.rawValue) relevance, class \(name(e.classes[n])) (predicted \(name(predicted[n])))")
        try AtomicFile.write(to: file) { try svg.write(toFile: $0, atomically: false, encoding: .utf8) }
      } else {
        file = stem + ".png"
        let image = x.slice(axis: 0, n..<(n + 1)).reshaped(Array(x.shape.dropFirst()))
        let h = x.shape[2]
        let pic = HeatmapPicture.triptych(
          image: image, heatmap: map.reshaped(Array(map.shape.dropFirst())), scale: max(1, 224 / h))
        try PNGImage.write(rgb: pic.rgb, width: pic.width, height: pic.height, to: file)
      }
      items.append(Item(file: file, label: labels?[n], explainedClass: e.classes[n], predicted: predicted[n]))
      if !json {
        print("\(file): class \(name(e.classes[n])), predicted \(name(predicted[n]))\(labels.map { ", label \(name($0[n]))" } ?? "")")
      }
    }
    if json {
      print(try jsonLine(Report(
        model: model, method: method.rawValue, layer: e.layer,
        lrp: method == .lrp || method == .lrpTarget ? options.lrp.description : nil, beta: beta, outputs: items)))
    }
  }

  /// The batch to explain and its labels (nil for image files).
  func loadInputs(_ net: Model) throws -> (Tensor, [Int]?) {
    if !input.isEmpty {
      guard net.inputShape.count == 3 else {
        throw ValidationError("--input needs an image model; \(net.architecture) takes \(net.inputShape)")
      }
      let (c, h, w) = (net.inputShape[0], net.inputShape[1], net.inputShape[2])
      let prep = ImagePreprocessing(resizeShorterSide: min(h, w), centerCrop: h == w ? h : nil)
      var parts: [Tensor] = []
      for path in input {
        let img = try ImageFile.read(path)
        var t = try prep.tensor(rgb: img.rgb, width: img.width, height: img.height, source: path)
        if c == 1 { t = t.mean(alongAxes: [1], keepingDimensions: true) }
        guard Array(t.shape.dropFirst()) == net.inputShape else {
          throw ValidationError("\(path): gives \(t.shape.dropFirst()), model needs \(net.inputShape)")
        }
        parts.append(t)
      }
      return (Tensor.concatenate(parts, alongAxis: 0), nil)
    }
    let name = dataset ?? "digits"
    let test = try DatasetCatalog.load(name, root: datasetsRoot).test
    guard test.exampleShape == net.inputShape else {
      throw ValidationError("data set \(name) has examples \(test.exampleShape), model \(model) needs \(net.inputShape)")
    }
    // Evenly spaced examples, so that a sorted test split still shows several classes.
    let n = min(max(count, 1), test.count)
    let rows = (0..<n).map { $0 * (test.count / n) }
    return (Tensor.concatenate(rows.map { test.inputs.slice(axis: 0, $0..<($0 + 1)) }, alongAxis: 0), rows.map { test.labels[$0] })
  }
}
