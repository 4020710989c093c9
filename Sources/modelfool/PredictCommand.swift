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

  @Option(help: "Checkpoint file, or a known model name (\(WeightImport.known.map(\.name).joined(separator: ", "))), imported if missing.")
  var model: String

  @Option(parsing: .upToNextOption, help: "JPEG/PNG images, HDF5 files ('images' or 'inputs'), or CSV files of encoded rows.")
  var input: [String] = []

  @Option(help: "Instead of --input: a catalogue data set (test split) ...")
  var dataset: String?

  @Option(help: "... and the example index in it.")
  var index: Int?


  @Option(help: "Classes to show per input.")
  var top = 5


  func validate() throws {
    guard top > 0 else { throw ValidationError("--top must be positive") }
    guard input.isEmpty != (dataset == nil) else { throw ValidationError("give either --input FILES or --dataset NAME --index I") }
    guard (dataset == nil) == (index == nil) else { throw ValidationError("--dataset and --index go together") }
  }

  func run() throws {
    let observer = global.prepare()
    let network = try WeightImport.resolveModel(model, datasetsRoot: try global.root, log: observer.message)
    let inputs: Tensor
    let names: [String]
    if let dataset, let index {
      let data = try ModelInputs.evaluationData(for: network, dataset: dataset, datasetsRoot: try global.root)
      guard (0..<data.count).contains(index) else {
        throw ValidationError("--index \(index) is outside \(dataset)'s \(data.count) test examples")
      }
      inputs = data.inputs.slice(axis: 0, index..<(index + 1))
      names = ["\(dataset)[\(index)] (label \(data.labels[index]))"]
    } else {
      (inputs, names) = try Predictor.loadInputs(input, for: network)
    }
    let predictions = try Predictor.predict(network, inputs: inputs, labels: names, top: top)
    if global.json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      print(String(decoding: try encoder.encode(predictions), as: UTF8.self))
      return
    }
    for p in predictions {
      print(p.input)
      for s in p.top {
        let name = s.name.count >= 32 ? s.name : s.name.padding(toLength: 32, withPad: " ", startingAt: 0)
        print(String(format: "  %4d  ", s.classIndex) + name + String(format: " logit %8.3f  p %.4f", s.logit, s.probability))
      }
    }
  }
}
