import ArgumentParser
import Foundation
import ModelFool
import ModelFoolBenchmarks
import ModelFoolTraining

/// `modelfool bench forward`: one-image inference time of a model, single-threaded, next to the
/// numpy reference (bench/peers/effnet_numpy.py) for EfficientNet-Lite0.
struct BenchForwardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forward",
    abstract: "Time a model's forward pass on one input (single-threaded) against the numpy EfficientNet peer.")

  @Option(help: "Checkpoint file or known model name.")
  var model = "efficientnet-lite0"

  @Option(help: "Timed passes (median reported).")
  var iterations = 20

  @Option(help: "Examples per pass.")
  var batch = 1

  @Option(help: "Threads (engine kernels and BLAS).")
  var threads = 1

  @Option(help: "Peer script; 'none' skips it.")
  var peer = "bench/peers/effnet_numpy.py"

  @Flag(help: "Also time each top-level layer and the depthwise convolutions.")
  var profile = false

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  func run() throws {
    EngineThreads.set(threads)
    warnIfGenericBLASCore()
    logLine("OpenBLAS core \(BLASRuntime.coreName), \(threads) thread(s)")
    let network = try ModelReference(parsing: model).resolve(log: logLine)
    let ours = ForwardBenchmark.medianForwardMilliseconds(network, batch: batch, iterations: iterations)
    logLine(String(format: "modelfool %@ forward, batch %d, %d thread(s): %.2f ms", network.architecture, batch, threads, ours))
    if profile {
      let p = ForwardBenchmark.profile(network)
      for row in p.layers { logLine("  " + row.name.padding(toLength: 14, withPad: " ", startingAt: 0) + String(format: " %8.2f ms", row.ms)) }
      for row in p.convs.sorted(by: { $0.ms > $1.ms }).prefix(8) {
        logLine("  " + row.name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: " %8.3f ms", row.ms))
      }
      logLine(String(format: "  convolutions alone: depthwise %.2f ms, other %.2f ms", p.depthwiseMs, p.convMs))
    }
    var peerMs: Double?
    if peer != "none", network.architecture == "efficientnet-lite0", batch == 1 {
      let checkpoint = FileManager.default.fileExists(atPath: model) ? model : WeightImport.defaultCheckpointPath(for: model)
      switch PeerScript.run(peer, arguments: ["--checkpoint", checkpoint, "--iterations", "\(iterations)", "--json"], keys: ["forward_ms"]) {
      case .success(let values): peerMs = values["forward_ms"]
      case .failure(let error): logLine("peer not run: \(error.description)")
      }
      if let peerMs {
        logLine(String(format: "numpy peer: %.2f ms; ratio modelfool / numpy %.2fx", peerMs, ours / peerMs))
      }
    }
    if json {
      let peerText = peerMs.map { String(format: "%.4g", $0) } ?? "null"
      let ratio = peerMs.map { String(format: "%.4g", ours / $0) } ?? "null"
      print("{\"architecture\": \"\(network.architecture)\", \"batch\": \(batch), \"threads\": \(threads), "
        + "\"forward_ms\": \(String(format: "%.4g", ours)), \"peer_forward_ms\": \(peerText), \"ratio_vs_numpy\": \(ratio)}")
    }
  }
}
