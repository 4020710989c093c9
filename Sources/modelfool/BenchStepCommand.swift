import ArgumentParser
import Foundation
import ModelFool
import ModelFoolBenchmarks
import ModelFoolTraining

/// `modelfool bench step` (the default of `modelfool bench`): kernel throughput and the reference
/// training step, side by side with JAX (one thread) and PyTorch eager (one thread and all cores).
struct BenchStepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "step",
    abstract: "Benchmark the engine (sgemm, conv, training steps) against JAX and PyTorch peers, on one thread and on all cores.")

  @Option(help: "Timed steps per variant and round.")
  var iterations = 20

  @Option(help: "Alternating rounds of (ModelFool, peers).")
  var rounds = 2

  @Option(help: "Thread counts to measure, comma-separated; 'all' is every core (the engine's pool; PyTorch gets the same).")
  var threads = "1,all"

  @Option(help: "JAX peer script (one thread only); 'none' skips it.")
  var peer = "bench/peers/jax_step.py"

  @Option(help: "PyTorch eager peer script; 'none' skips it.")
  var torchPeer = "bench/peers/torch_step.py"

  @Option(help: "PyTorch eager peer of the EfficientNet-Lite0 fine-tuning step (with an EfficientNet-Lite0 checkpoint as --finetune-model); 'none' skips it.")
  var torchEffnetPeer = "bench/peers/torch_effnet_step.py"

  @Option(help: "Time the fine-tuning step on this model instead of the digits CNN: a checkpoint, a pretrained name, or zoo:ARCH (random weights, e.g. zoo:resnet50).")
  var finetuneModel: String?

  @Option(help: "Batch size of the timed fine-tuning step.")
  var finetuneBatch = 32

  @Flag(help: "Print one JSON object on stdout.")
  var json = false

  private var threadCounts: [Int] { parseThreadCounts(threads, allowingAll: true) ?? [] }

  /// The largest `--finetune-batch`; the memory estimate may refuse a smaller one.
  static let maxFinetuneBatch = 4096

  func validate() throws {
    guard iterations > 0, rounds > 0 else { throw ValidationError("--iterations and --rounds must be positive") }
    guard (1...Self.maxFinetuneBatch).contains(finetuneBatch) else {
      throw ValidationError("--finetune-batch must be between 1 and \(Self.maxFinetuneBatch), got \(finetuneBatch)")
    }
    guard !threadCounts.isEmpty else {
      throw ValidationError("--threads: expected positive whole numbers or 'all', comma-separated, got '\(threads)'")
    }
  }

  /// One thread count's medians (means over rounds) in milliseconds.
  struct Row {
    var threads: Int
    var plain = 0.0, double = 0.0
    var jax: (plain: Double, double: Double)?
    var torch: [String: Double]?
    /// PyTorch's plain and Grad-CAM location steps on the timed fine-tuning model (nil: not run).
    var torchFinetune: (plain: Double, fooling: Double)?
    var finetune: (plain: Double, fooling: Double, separate: Double?) = (0, 0, nil)
  }

  /// Which kernels run the convolutions (ConvolutionKernels).
  private var convolutionKernels: String {
    ConvolutionKernels.useOneDNN
      ? "oneDNN \(OneDNNConvolution.version) (\(OneDNNConvolution.isa)) where it won, else ours"
      : "ours (MODELFOOL_CONV_KERNELS=own)"
  }

  func run() throws {
    let log = logLine
    let model = try finetuneModel.map { name in
      name.hasPrefix("zoo:") ? try ModelZoo.build(architecture: String(name.dropFirst(4))) : try WeightImport.resolveModel(name, log: log)
    }
    if let model { try FineTuneBenchmark.requireImageModel(model) }
    // Checked before anything runs: --finetune-batch 100000 was killed by the OOM killer at 23.5 GB.
    let memory = FineTuneMemoryEstimate(model: try model ?? ModelZoo.build(architecture: "digits-cnn"), batchSize: finetuneBatch)
    if let available = FineTuneMemoryEstimate.availableBytes(), memory.bytes > available {
      throw ValidationError("--finetune-batch \(finetuneBatch) needs an estimated \(FineTuneMemoryEstimate.describe(memory.bytes)) but \(FineTuneMemoryEstimate.describe(available)) of memory is available")
    }
    // PyTorch's fine-tuning step: the digits CNN's from torch_step.py, EfficientNet-Lite0's from
    // its own peer on the same checkpoint; no peer for other models.
    let effnetCheckpoint = model?.architecture == "efficientnet-lite0" && torchEffnetPeer != "none"
      ? finetuneModel.flatMap(WeightImport.checkpointPath) : nil
    var effnetError: String?
    if model != nil && effnetCheckpoint == nil {
      log("no PyTorch peer for the fine-tuning step of \(finetuneModel!) (only for the digits CNN and an EfficientNet-Lite0 checkpoint)")
    }
    warnIfGenericBLASCore()
    let core = BLASRuntime.coreName
    let mean = { (xs: [Double]) in xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count) }
    let torchKeys = ["plain_step_ms", "double_backprop_step_ms", "finetune_plain_step_ms", "finetune_gradcam_location_step_ms"]
    var jaxError: String?, torchError: String?
    var kernels: (raw: Double, engine: Double, conv: (forward: Double, backward: Double))?
    var rows: [Row] = []
    for t in threadCounts {
      EngineThreads.set(t)
      log("OpenBLAS core \(core), \(t) thread(s) in the engine's pool, OpenBLAS on one; convolutions: \(convolutionKernels)")
      if kernels == nil {
        let raw = KernelBenchmark.rawSgemmGFLOPs()
        let engine = KernelBenchmark.engineMatmulGFLOPs()
        log(String(format: "sgemm 512x512: raw %.1f GFLOP/s, through Tensor.matmul %.1f GFLOP/s (%.0f%%)", raw, engine, 100 * engine / raw))
        let conv = KernelBenchmark.convGFLOPs()
        log(String(format: "conv2d 16->32 3x3 on 32x32x32: forward %.1f GFLOP/s, backward %.1f GFLOP/s", conv.forward, conv.backward))
        kernels = (raw, engine, conv)
      }
      var ours: [(plain: Double, double: Double)] = []
      var jax: [(plain: Double, double: Double)] = []
      var torch: [[String: Double]] = []
      var effnet: [(plain: Double, fooling: Double)] = []
      for round in 1...rounds {
        var workload = ReferenceWorkload(seed: 0)
        let plain = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: false) } * 1000
        let double = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: true) } * 1000
        ours.append((plain, double))
        log(String(format: "round %d modelfool: plain step %.2f ms, double-backprop step %.2f ms", round, plain, double))
        if peer != "none", jaxError == nil, t == 1 {
          switch PeerScript.run(peer, arguments: ["--json", "--iterations", "\(iterations)"], keys: ["plain_step_ms", "double_backprop_step_ms"]) {
          case .success(let values):
            jax.append((values["plain_step_ms"]!, values["double_backprop_step_ms"]!))
            log(String(format: "round %d jax:       plain step %.2f ms, double-backprop step %.2f ms", round, jax.last!.plain, jax.last!.double))
          case .failure(let error):
            jaxError = error.description
            log("jax peer not run: \(error.description)")
          }
        }
        if torchPeer != "none", torchError == nil {
          switch PeerScript.run(torchPeer, arguments: ["--json", "--iterations", "\(iterations)", "--threads", "\(t)"], keys: torchKeys) {
          case .success(let values):
            torch.append(values)
            log(String(format: "round %d pytorch:   plain step %.2f ms, double-backprop step %.2f ms, digits plain %.2f ms, Grad-CAM location %.2f ms", round, values["plain_step_ms"]!, values["double_backprop_step_ms"]!, values["finetune_plain_step_ms"]!, values["finetune_gradcam_location_step_ms"]!))
          case .failure(let error):
            torchError = error.description
            log("pytorch peer not run: \(error.description) (pip install torch, or set PYTHONPATH to a folder holding it)")
          }
        }
        if let checkpoint = effnetCheckpoint, effnetError == nil {
          let keys = ["effnet_plain_step_ms", "effnet_gradcam_location_step_ms"]
          switch PeerScript.run(
            torchEffnetPeer, arguments: ["--json", "--iterations", "3", "--threads", "\(t)", "--batch", "\(finetuneBatch)", "--checkpoint", checkpoint],
            keys: keys)
          {
          case .success(let values):
            effnet.append((values[keys[0]]!, values[keys[1]]!))
            log(String(format: "round %d pytorch:   EfficientNet-Lite0 batch %d plain %.2f ms, Grad-CAM location %.2f ms", round, finetuneBatch, effnet.last!.plain, effnet.last!.fooling))
          case .failure(let error):
            effnetError = error.description
            log("pytorch EfficientNet-Lite0 peer not run: \(error.description)")
          }
        }
      }
      var row = Row(threads: t)
      row.plain = mean(ours.map(\.plain))!
      row.double = mean(ours.map(\.double))!
      if !jax.isEmpty { row.jax = (mean(jax.map(\.plain))!, mean(jax.map(\.double))!) }
      if !torch.isEmpty {
        row.torch = Dictionary(uniqueKeysWithValues: torchKeys.map { k in (k, mean(torch.map { $0[k]! })!) })
        if model == nil { row.torchFinetune = (row.torch!["finetune_plain_step_ms"]!, row.torch!["finetune_gradcam_location_step_ms"]!) }
      }
      if !effnet.isEmpty { row.torchFinetune = (mean(effnet.map(\.plain))!, mean(effnet.map(\.fooling))!) }
      row.finetune = try FineTuneBenchmark.stepTimes(
        iterations: finetuneModel == nil ? 10 : 3, batch: finetuneBatch,
        model: model, separateForwards: true)
      log(String(format: "%@ batch %d, %d thread(s): plain CE step %.2f ms, Grad-CAM location fine-tuning step %.2f ms (%.2fx; with a separate forward for the explanation %.2f ms)", (finetuneModel ?? "digits CNN") as NSString, finetuneBatch, t, row.finetune.plain, row.finetune.fooling, row.finetune.fooling / row.finetune.plain, row.finetune.separate ?? .nan))
      if let j = row.jax {
        log(String(format: "ratio to JAX, 1 thread (lower is faster): plain %.2fx, double backprop %.2fx", row.plain / j.plain, row.double / j.double))
      }
      if let p = row.torch {
        log(String(format: "ratio to PyTorch, %d thread(s): plain %.2fx, double backprop %.2fx", t, row.plain / p["plain_step_ms"]!, row.double / p["double_backprop_step_ms"]!))
      }
      if let f = row.torchFinetune {
        log(String(format: "ratio to PyTorch, %d thread(s), %@ fine-tuning: plain %.2fx, Grad-CAM location %.2fx", t, (finetuneModel ?? "digits CNN") as NSString, row.finetune.plain / f.plain, row.finetune.fooling / f.fooling))
      }
      rows.append(row)
    }
    if rows.count > 1 {
      let a = rows[0], b = rows[rows.count - 1]
      log(String(format: "%d vs %d thread(s) speed-up: plain %.2fx, double backprop %.2fx, %@ Grad-CAM location step %.2fx", b.threads, a.threads, a.plain / b.plain, a.double / b.double, (finetuneModel ?? "digits CNN") as NSString, a.finetune.fooling / b.finetune.fooling))
    }
    let rss = KernelBenchmark.peakResidentMiB()
    if let rss { log(String(format: "peak resident memory: %.0f MiB", rss)) }
    guard json, let kernels else { return }
    func number(_ v: Double?) -> String { v.map { String(format: "%.4g", $0) } ?? "null" }
    func object(_ fields: [(String, Double?)]) -> String {
      fields.map { "\"\($0.0)\": \(number($0.1))" }.joined(separator: ", ")
    }
    func fields(_ r: Row) -> [(String, Double?)] {
      let p = r.torch
      return [
        ("threads", Double(r.threads)),
        ("plain_step_ms", r.plain), ("double_backprop_step_ms", r.double),
        ("finetune_plain_step_ms", r.finetune.plain), ("finetune_gradcam_location_step_ms", r.finetune.fooling),
        ("finetune_step_ratio", r.finetune.fooling / r.finetune.plain),
        ("finetune_separate_forwards_step_ms", r.finetune.separate),
        ("peer_plain_step_ms", r.jax?.plain), ("peer_double_backprop_step_ms", r.jax?.double),
        ("plain_ratio_vs_jax", r.jax.map { r.plain / $0.plain }),
        ("double_backprop_ratio_vs_jax", r.jax.map { r.double / $0.double }),
        ("torch_plain_step_ms", p?["plain_step_ms"]), ("torch_double_backprop_step_ms", p?["double_backprop_step_ms"]),
        ("torch_finetune_plain_step_ms", r.torchFinetune?.plain),
        ("torch_finetune_gradcam_location_step_ms", r.torchFinetune?.fooling),
        ("plain_ratio_vs_torch", p.map { r.plain / $0["plain_step_ms"]! }),
        ("double_backprop_ratio_vs_torch", p.map { r.double / $0["double_backprop_step_ms"]! }),
        ("finetune_plain_ratio_vs_torch", r.torchFinetune.map { r.finetune.plain / $0.plain }),
        ("finetune_ratio_vs_torch", r.torchFinetune.map { r.finetune.fooling / $0.fooling }),
      ]
    }
    // The first thread count's figures at the top level (as before), every count in `by_threads`.
    let top: [(String, Double?)] = [
      ("sgemm_gflops", kernels.raw), ("engine_matmul_gflops", kernels.engine),
      ("conv_forward_gflops", kernels.conv.forward), ("conv_backward_gflops", kernels.conv.backward),
    ] + fields(rows[0]).filter { $0.0 != "threads" } + [("peak_rss_mb", rss), ("blas_threads", Double(rows[0].threads))]
    let byThreads = rows.map { "{" + object(fields($0)) + "}" }.joined(separator: ", ")
    print("{" + object(top) + ", \"by_threads\": [\(byThreads)], \"blas_core\": \"\(core)\"}")
  }
}
