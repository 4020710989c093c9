import ArgumentParser
import Foundation
import ModelFool
import ModelFoolData
import ModelFoolTraining

/// `modelfool evaluate`: accuracy of a model on a data set.
struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate", abstract: "Top-1 / top-5 accuracy of a checkpoint or known model on a data set.")

  @Option(help: "Checkpoint file, or a known model name (\(WeightImport.known.map(\.name).joined(separator: ", "))), imported if missing.")
  var model: String

  @Option(help: "Catalogue data set (its test split): \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset: String?

  @Option(help: "ImageNet-layout folder (one subfolder per class) instead of --dataset.")
  var images: String?

  @Option(help: "HDF5 file with 'images' (uint8 N x H x W x 3, RGB) and 'labels' instead of --dataset.")
  var h5: String?

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Examples per forward pass.")
  var batchSize = 32

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func validate() throws {
    guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
  }

  func run() throws {
    let network = try WeightImport.resolveModel(model, datasetsRoot: datasetsRoot, log: logLine)
    let data = try ModelInputs.evaluationData(
      for: network, dataset: dataset, images: images, h5: h5, datasetsRoot: datasetsRoot)
    try reportAccuracy(network, on: data)
  }

  /// Plain accuracy: one line of text, or a JSON object (`top1`, `top5` as fractions, `count`,
  /// `accuracy`, ...).
  func reportAccuracy(_ network: Model, on data: Dataset) throws {
    let report = try Predictor.accuracy(network, on: data, batchSize: batchSize)
    if json {
      print(try jsonLine(report))
    } else {
      print(String(
        format: "%@ on %@: top-1 %d/%d (%.4f), top-5 %d/%d (%.4f), loss %.4f", model, data.name, report.correctTop1,
        report.count, report.top1, report.correctTop5, report.count, report.top5, report.loss))
    }
  }
}
