import ArgumentParser
import Foundation
import ModelFool
import ModelFoolBenchmarks
import ModelFoolData
import ModelFoolTraining

/// `modelfool bench explain`: SimpleGrad, Grad-CAM and LRP on a batch of 32 test examples, timed
/// against a forward+backward pass of the same model and, for the digits CNN, beside Captum and
/// Zennit on one thread.
struct BenchExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Time explaining a batch of 32 with SimpleGrad, Grad-CAM and LRP against a forward+backward pass and Captum/Zennit.")

  @Option(help: "Checkpoint (default runs/base/digits.h5).")
  var model = "runs/base/digits.h5"

  @Option(help: "Data set whose first 32 test examples are explained: \(DatasetCatalog.names.joined(separator: ", ")).")
  var dataset = "digits"

  @Option(help: "Folder with the data sets.")
  var datasetsRoot = DatasetCatalog.defaultRoot

  @Option(help: "Timed passes per method (median reported).")
  var iterations = 10

  @Option(help: "Threads of the engine's pool, and of PyTorch in the peer.")
  var threads = 1

  @Option(help: "Captum/Zennit peer script (digits CNN); 'none' skips it.")
  var peer = "bench/peers/captum_explain.py"

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func validate() throws {
    guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
    guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
  }

  func run() throws {
    warnIfGenericBLASCore()
    EngineThreads.set(threads)
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
    // The peer explains the same architecture with the same weights; its keys are this bench's
    // keys of the graph-free rows.
    let peerKeys = ["forward_backward_ms", "simplegrad_ms", "gradcam_ms", "lrp_ms"]
    var peerTimes: [String: Double]?
    if peer != "none", net.architecture == "digits-cnn" {
      let arguments = ["--json", "--iterations", "\(iterations)", "--threads", "\(threads)", "--checkpoint", model]
      switch PeerScript.run(peer, arguments: arguments, keys: peerKeys) {
      case .success(let values): peerTimes = values
      case .failure(let error): logLine("captum/zennit peer not run: \(error.description) (pip install torch captum zennit h5py)")
      }
    } else if peer != "none" {
      logLine("captum/zennit peer not run: it covers the digits CNN only")
    }
    if json {
      var fields = ["forward_backward_ms": base]
      for row in times.rows { fields[row.key] = row.milliseconds }
      for (key, value) in peerTimes ?? [:] {
        fields["peer_" + key] = value
        if let ours = fields[key] { fields[key.replacingOccurrences(of: "_ms", with: "_ratio_vs_peer")] = ours / value }
      }
      print(try jsonLine(fields))
      return
    }
    for row in times.rows {
      let peerTime = row.keepsGraph ? nil : peerTimes?[row.key]
      print(String(
        format: "%@ %@: %7.2f ms  (%.2fx forward+backward %.2f ms)",
        row.method.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0), row.keepsGraph ? "graph kept" : "no graph  ",
        row.milliseconds, row.milliseconds / base, base)
        + (peerTime.map { String(format: "; %@ %.2f ms, ratio %.2fx", row.method == .lrp ? "Zennit" : "Captum", $0, row.milliseconds / $0) } ?? ""))
    }
    if let p = peerTimes?["forward_backward_ms"] {
      print(String(format: "forward+backward: %.2f ms, PyTorch %.2f ms, ratio %.2fx", base, p, base / p))
    }
  }
}
