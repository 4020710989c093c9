import ArgumentParser
import Foundation
import ModelFool
import ModelFoolBenchmarks
import ModelFoolData
import ModelFoolTraining

/// `modelfool bench explain`: Grad-CAM and LRP on a batch of 32 test examples, timed against a
/// forward+backward pass of the same model.
struct BenchExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Time explaining a batch of 32 with Grad-CAM and LRP against a forward+backward pass.")

  @Option(help: "Checkpoint (default runs/base/digits.h5).")
  var model = "runs/base/digits.h5"

  @Option(help: "Data set whose first 32 test examples are explained: \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset = "digits"

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Timed passes per method (median reported).")
  var iterations = 10

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func validate() throws {
    guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
  }

  func run() throws {
    warnIfGenericBLASCore()
    guard FileManager.default.fileExists(atPath: model) else {
      throw ValidationError("checkpoint \(model) does not exist (train one with `modelfool train --dataset digits`)")
    }
    let net = try Checkpoint.load(model, log: logLine)
    net.setTraining(false)
    let test = try DatasetCatalog.load(dataset, root: datasetsRoot).test
    let n = min(32, test.count)
    let times = try ExplainBenchmark.times(
      net, x: test.inputs.slice(axis: 0, 0..<n), labels: Array(test.labels.prefix(n)), repeats: iterations)
    let base = times.forwardBackward
    if json {
      var fields = ["forward_backward_ms": base]
      for row in times.rows { fields[row.key] = row.milliseconds }
      print(try jsonLine(fields))
      return
    }
    for row in times.rows {
      print(String(
        format: "%@ %@: %7.2f ms  (%.2fx forward+backward %.2f ms)",
        row.method.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0), row.keepsGraph ? "graph kept" : "no graph  ",
        row.milliseconds, row.milliseconds / base, base))
    }
  }
}
