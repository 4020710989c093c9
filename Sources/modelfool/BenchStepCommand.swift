import ArgumentParser
import Foundation
import ModelFool
import ModelFoolBenchmarks
import ModelFoolTraining

/// `modelfool bench step` (the default of `modelfool bench`): kernel throughput and the reference
/// training step, side by side with JAX.
struct BenchStepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "step",
    abstract: "Benchmark the engine (sgemm, conv, training steps) against a JAX peer, single-threaded.")

  @Option(help: "Timed steps per variant and round.")
  var iterations = 20

  @Option(help: "Alternating rounds of (ModelFool, peer).")
  var rounds = 2

  @Option(help: "BLAS threads for ModelFool (the comparison is single-threaded).")
  var threads = 1

  @Option(help: "Peer script (JAX on CPU); 'none' skips the peer.")
  var peer = "bench/peers/jax_step.py"

  @Option(help: "Time the fine-tuning step on this model instead of the digits CNN: a checkpoint, a pretrained name, or zoo:ARCH (random weights, e.g. zoo:resnet50).")
  var finetuneModel: String?

  @Option(help: "Batch size of the timed fine-tuning step.")
  var finetuneBatch = 32

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  /// The largest `--finetune-batch`; the memory estimate may refuse a smaller one.
  static let maxFinetuneBatch = 4096

  func validate() throws {
    guard iterations > 0, rounds > 0, threads > 0 else {
      throw ValidationError("--iterations, --rounds and --threads must be positive")
    }
    guard (1...Self.maxFinetuneBatch).contains(finetuneBatch) else {
      throw ValidationError("--finetune-batch must be between 1 and \(Self.maxFinetuneBatch), got \(finetuneBatch)")
    }
  }

  func run() throws {
    BLASRuntime.setThreads(threads)
    let log = logLine
    let model = try finetuneModel.map { name in
      name.hasPrefix("zoo:") ? try ModelZoo.build(architecture: String(name.dropFirst(4))) : try WeightImport.resolveModel(name, log: log)
    } ?? ModelZoo.build(architecture: "digits-cnn", options: ["seed": "0"])
    // Checked before anything runs: --finetune-batch 100000 was killed by the OOM killer at 23.5 GB.
    let memory = FineTuneMemoryEstimate(model: model, batchSize: finetuneBatch)
    if let available = FineTuneMemoryEstimate.availableBytes(), memory.bytes > available {
      throw ValidationError("--finetune-batch \(finetuneBatch) needs an estimated \(FineTuneMemoryEstimate.describe(memory.bytes)) but \(FineTuneMemoryEstimate.describe(available)) of memory is available")
    }
    let core = BLASRuntime.coreName
    log("OpenBLAS core \(core), \(threads) thread(s)")
    let raw = KernelBenchmark.rawSgemmGFLOPs()
    let engine = KernelBenchmark.engineMatmulGFLOPs()
    log(String(format: "sgemm 512x512: raw %.1f GFLOP/s, through Tensor.matmul %.1f GFLOP/s (%.0f%%)", raw, engine, 100 * engine / raw))
    let conv = KernelBenchmark.convGFLOPs()
    log(String(format: "conv2d 16->32 3x3 on 32x32x32: forward %.1f GFLOP/s, backward %.1f GFLOP/s", conv.forward, conv.backward))

    var ours: [(plain: Double, double: Double)] = []
    var peers: [(plain: Double, double: Double)] = []
    var peerError: String?
    for round in 1...rounds {
      var workload = ReferenceWorkload(seed: 0)
      let plain = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: false) } * 1000
      let double = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: true) } * 1000
      ours.append((plain, double))
      log(String(format: "round %d modelfool: plain step %.2f ms, double-backprop step %.2f ms", round, plain, double))
      guard peer != "none", peerError == nil else { continue }
      switch PeerScript.run(peer, arguments: ["--json", "--iterations", "\(iterations)"], keys: ["plain_step_ms", "double_backprop_step_ms"]) {
      case .success(let values):
        let times = (plain: values["plain_step_ms"]!, double: values["double_backprop_step_ms"]!)
        peers.append(times)
        log(String(format: "round %d jax:       plain step %.2f ms, double-backprop step %.2f ms", round, times.plain, times.double))
      case .failure(let error):
        peerError = error.description
        log("peer not run: \(error.description)")
      }
    }
    let finetune = try FineTuneBenchmark.stepTimes(iterations: finetuneModel == nil ? 10 : 3, batch: finetuneBatch, model: model)
    log(String(format: "%@ batch %d: plain CE step %.2f ms, Grad-CAM location fine-tuning step %.2f ms (%.2fx)", (finetuneModel ?? "digits CNN") as NSString, finetuneBatch, finetune.plain, finetune.fooling, finetune.fooling / finetune.plain))
    let mean = { (xs: [Double]) in xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }
    let plain = mean(ours.map(\.plain))!, double = mean(ours.map(\.double))!
    let peerPlain = mean(peers.map(\.plain)), peerDouble = mean(peers.map(\.double))
    let rss = KernelBenchmark.peakResidentMiB()
    if let peerDouble, let peerPlain {
      log(String(format: "ratio to JAX (lower is faster): plain %.2fx, double backprop %.2fx", plain / peerPlain, double / peerDouble))
    }
    if let rss { log(String(format: "peak resident memory: %.0f MiB", rss)) }
    if json {
      let fields: [(String, Double?)] = [
        ("sgemm_gflops", raw), ("engine_matmul_gflops", engine),
        ("conv_forward_gflops", conv.forward), ("conv_backward_gflops", conv.backward),
        ("plain_step_ms", plain), ("double_backprop_step_ms", double),
        ("peer_plain_step_ms", peerPlain), ("peer_double_backprop_step_ms", peerDouble),
        ("plain_ratio_vs_jax", peerPlain.map { plain / $0 }),
        ("double_backprop_ratio_vs_jax", peerDouble.map { double / $0 }),
        ("finetune_plain_step_ms", finetune.plain), ("finetune_gradcam_location_step_ms", finetune.fooling),
        ("finetune_step_ratio", finetune.fooling / finetune.plain),
        ("peak_rss_mb", rss), ("blas_threads", Double(threads)),
      ]
      let body = fields.map { "\"\($0.0)\": \($0.1.map { String(format: "%.4g", $0) } ?? "null")" }
      print("{" + body.joined(separator: ", ") + ", \"blas_core\": \"\(core)\"}")
    }
  }
}
