import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool predict`: the top classes of a model for images, HDF5 stacks or CSV rows.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict", abstract: "Top classes (names, logits, probabilities) for each input.")

  @OptionGroup var global: GlobalOptions

  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)).", valueName: "model"))
  var model: ModelReference

  @Option(parsing: .upToNextOption, help: "JPEG/PNG images, HDF5 files ('images' or 'inputs'), or CSV files of encoded rows.")
  var input: [String] = []

  @OptionGroup var data: DataOptions

  @Option(help: "Instead of --input: the index of a test example of the data (--dataset, --csv, --images or --h5).")
  var index: Int?

  @Option(help: "Classes to show per input.")
  var top = 5

  func validate() throws {
    guard top > 0 else { throw ValidationError("--top must be positive") }
    guard input.isEmpty != (index == nil) else { throw ValidationError("give either --input FILES or --index I with its data") }
  }

  func run() throws {
    let observer = global.prepare()
    let network = try model.resolve(datasetsRoot: try global.root, log: observer.message)
    let inputs: Tensor
    let names: [String]
    let source = try data.source(for: "predict", accepting: [.dataset, .table, .imageFolder, .hdf5])
    if let index {
      guard let source else { throw ValidationError("--index needs the data it indexes (--dataset, --csv, --images or --h5)") }
      let examples = try source.evaluationData(for: network, datasetsRoot: try global.root, log: observer.message)
      guard (0..<examples.count).contains(index) else {
        throw ValidationError("--index \(index) is outside \(source)'s \(examples.count) test examples")
      }
      inputs = examples.inputs.slice(axis: 0, index..<(index + 1))
      names = ["\(examples.name)[\(index)] (label \(examples.labels[index]))"]
    } else {
      if let source { throw ValidationError("give either --input FILES or the \(source) with --index") }
      (inputs, names) = try Predictor.loadInputs(input, for: network)
    }
    let predictions = try Predictor.predict(network, inputs: inputs, labels: names, top: top)
    if global.json { return try global.printJSON(predictions) }
    for p in predictions {
      print(p.input)
      let rows = p.top.map { s in ["  " + s.name, "\(s.classIndex)", String(format: "%.3f", s.logit), String(format: "%.4f", s.probability)] }
      print(TextTable(header: ["  class", "index", "logit", "probability"], rows: rows).render())
    }
  }
}
