import ArgumentParser
import Foundation
import ModelFoolBenchmarks
import ModelFoolData

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
    let directory = folder ?? datasetsRoot + "/imagenet-sample"
    let files = try PipelineBenchmark.imageFiles(in: directory)
    logLine("\(files.count) images x \(repeats) per pass, \(rounds) round(s), alternating with the peer")
    var rows: [(mode: String, threads: Int, ours: [Double], peer: [Double])] = []
    var peerNote: String?
    let modes = dctScaling ? [false, true] : [false]
    for scaled in modes {
      for t in threadCounts { rows.append((scaled ? "dct-scaled" : "exact", t, [], [])) }
    }
    for _ in 0..<rounds {
      for index in rows.indices {
        let scaled = rows[index].mode == "dct-scaled"
        let t = rows[index].threads
        let ours = try PipelineBenchmark.measure(
          files: files, repeats: repeats, threads: t, passes: 1, dctScaling: scaled)
        rows[index].ours.append(ours.median)
        guard peer != "none", peerNote == nil else { continue }
        var arguments = ["--folder", directory, "--repeats", "\(repeats)", "--threads", "\(t)", "--passes", "1"]
        if scaled { arguments.append("--draft") }
        switch PeerScript.run(peer, arguments: arguments, keys: ["images_per_second"]) {
        case .success(let values): rows[index].peer.append(values["images_per_second"]!)
        case .failure(let error): peerNote = error.description
        }
      }
    }
    if let peerNote { logLine("peer not run: \(peerNote)") }
    func median(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.sorted()[values.count / 2] }
    func range(_ values: [Double]) -> String {
      values.isEmpty ? "-" : String(format: "%.0f-%.0f", values.min()!, values.max()!)
    }
    for row in rows {
      var line = String(format: "%@, %d thread(s): modelfool %.1f images/s (%@)", row.mode, row.threads, median(row.ours)!, range(row.ours))
      if let p = median(row.peer) {
        line += String(format: "; Pillow %.1f (%@); ratio modelfool / Pillow %.2fx", p, range(row.peer), median(row.ours)! / p)
      }
      logLine(line)
    }
    if json {
      let entries = rows.map { row -> String in
        let p = median(row.peer).map { String(format: "%.4g", $0) } ?? "null"
        let ratio = median(row.peer).map { String(format: "%.4g", median(row.ours)! / $0) } ?? "null"
        return "{\"mode\": \"\(row.mode)\", \"threads\": \(row.threads), \"images_per_second\": \(String(format: "%.4g", median(row.ours)!)), "
          + "\"peer_images_per_second\": \(p), \"ratio_vs_pillow\": \(ratio)}"
      }
      print("{\"images\": \(files.count * repeats), \"results\": [\(entries.joined(separator: ", "))]}")
    }
  }
}
