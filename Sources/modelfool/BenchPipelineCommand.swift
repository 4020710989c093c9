import ArgumentParser
import Foundation
import ModelFoolBenchmarks
import ModelFoolData
import ModelFoolTraining

/// `modelfool bench pipeline`: images per second of the input pipeline (decode, resize 256,
/// centre crop 224, normalise) over the shipped ImageNet photos, on 1 and 2 threads, next to
/// Pillow + numpy doing the same (bench/peers/pillow_pipeline.py), runs alternating.
struct BenchPipelineCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pipeline",
    abstract: "Time image decode + resize 256 + crop 224 + normalise (images/s) against Pillow.")

  @Option(help: "Folder of images (default: imagenet-sample in the data sets' folder).")
  var folder: String?

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Times each image is processed per timed pass.")
  var repeats = 10

  @Option(help: "Thread counts to measure, comma-separated.")
  var threads = "1,2"

  @Option(help: "Rounds; each times modelfool then the peer per thread count, one pass each (median reported).")
  var rounds = 3

  @Flag(help: "Also measure decoding at a reduced DCT scale (modelfool dctScaling, Pillow draft).")
  var dctScaling = false

  @Option(help: "Peer script; 'none' skips it.")
  var peer = "bench/peers/pillow_pipeline.py"

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func validate() throws {
    guard repeats > 0, rounds > 0 else { throw ValidationError("--repeats and --rounds must be positive") }
    guard !threadCounts.isEmpty else {
      throw ValidationError("--threads: expected positive whole numbers separated by commas, got '\(threads)'")
    }
  }

  private var threadCounts: [Int] { parseThreadCounts(threads, allowingAll: false) ?? [] }

  func run() throws {
    var comparison = try PipelineComparison(folder: folder ?? datasetsRoot + "/imagenet-sample")
    (comparison.repeats, comparison.threadCounts, comparison.rounds) = (repeats, threadCounts, rounds)
    (comparison.dctScaling, comparison.peer) = (dctScaling, peer == "none" ? nil : peer)
    let report = try comparison.run(log: logLine)
    if json { print(try RunJSON.encode(report)) }
  }
}
