import ArgumentParser
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool explain`: heatmap pictures (image | heatmap | overlay) or, for tabular models,
/// per-feature relevance bar charts, for a few examples of a data set or for image files (an
/// ``ExplainRun``).
struct ExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Explain a model's predictions and write heatmap pictures (PNG) or feature bar charts (SVG).")

  @OptionGroup var global: GlobalOptions

  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)); default: the data set's base model.", valueName: "model"))
  var model: ModelReference?
  @Option(help: "Method (default: gradcam for image models, simplegrad for tabular ones).") var method: ExplanationMethod?
  @OptionGroup var data: DataOptions
  @Option(parsing: .upToNextOption, help: "Files to explain instead of a data set, read as predict reads them: images (PNG/JPEG, the model's preprocessing), HDF5 or CSV rows (predicted class).")
  var input: [String] = []
  @Option(parsing: .unconditional, help: "Number of test examples.") var count = 8
  @Option(help: "Target layer for gradcam and the _t methods (default: the model's).") var layer: String?
  @Option(help: "Explain with ReLU replaced by softplus(beta).") var beta: Beta?
  @Option(help: "LRP composite: heo, heo+2b, dombrowski, epsilon[=E], zplus, alphaAbetaB, gamma[=G] (',fold' folds BatchNorm).")
  var lrp = "heo"
  @Option(name: .customLong("class"), help: "Class explained.") var explainedClass = ExplainedClass.label
  @Option(help: "kernelshap: background rows, kmeans:K (K k-means centres of the training rows), FILE.h5 (its 'inputs' dataset, or its only one) or a CSV of numbers (default: 100 seeded training rows).")
  var background: String?
  @Option(help: "kernelshap, lime: the explained output of the class (default: probability).") var explainedOutput: ExplainedOutput?
  @Option(help: "Output folder.") var out = "runs/explain"
  @Option(help: ArgumentHelp(
    "Also save the arrays: heatmaps [N,h,w] or [N,D], raw maps, logits [N,K], predicted, explained and "
      + "labels (int64, labels only for a data set), inputs. FILE.h5: one HDF5 file, one dataset per "
      + "array by those names. FILE.npy: the heatmaps in FILE.npy, each other array NAME in FILE.NAME.npy.",
    valueName: "file.h5|file.npy"))
  var saveMaps: String?

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
    var maps: [String]?
    /// Seconds of the explanation itself (loading and pictures excluded).
    var seconds: Double
  }

  func run() throws {
    if let saveMaps { _ = try ArrayExport.files(for: [], at: saveMaps) }  // a bad name fails before the work
    var settings = ExplainSettings()
    settings.data = try data.source(for: "explain", accepting: [.dataset, .table, .imageFolder, .hdf5])
    (settings.model, settings.method, settings.inputs) = (model?.argument, method, input)
    (settings.count, settings.layer, settings.beta, settings.lrp) = (count, layer, beta?.value, lrp)
    settings.explainedClass = explainedClass
    (settings.background, settings.blackBoxOutput) = (background, explainedOutput)
    let claim = try RunFolderClaim(out)  // the run owns its folder until its files are in place
    defer { claim.release() }
    let outcome = try ExplainRun(settings: settings, datasetsRoot: global.root, observer: global.prepare()).run()
    let e = outcome.explanation
    let (files, maps) = try outcome.write(to: out, maps: saveMaps)
    let items = files.indices.map { n in
      Item(file: files[n], label: outcome.labels?[n], explainedClass: e.classes[n], predicted: outcome.predicted[n])
    }
    guard !global.json else {
      return try global.printJSON(Report(
        model: outcome.settings.model ?? "", method: outcome.explanation.method.rawValue, layer: e.layer, lrp: outcome.lrp, beta: beta?.value, outputs: items, maps: maps,
        seconds: outcome.seconds))
    }
    let name = outcome.className
    for item in items {
      print("\(item.file): class \(name(item.explainedClass)), predicted \(name(item.predicted))\(item.label.map { ", label \(name($0))" } ?? "")")
    }
    if let maps { print("arrays: \(maps.joined(separator: ", "))") }
    print(String(format: "explained %d examples in %.2f s", items.count, outcome.seconds))
  }
}
