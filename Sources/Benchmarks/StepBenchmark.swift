import Foundation
import ModelFool
import ModelFoolTraining

/// `modelfool bench step`: kernel throughput, the reference training step beside JAX (one thread)
/// and PyTorch eager, and a model's plain and Grad-CAM location fine-tuning steps beside the same
/// network in PyTorch, for each thread count; alternating rounds, means of per-round medians.
public struct StepBenchmark {
  /// Timed steps per variant and round.
  public var iterations = 20
  /// Alternating rounds of (ModelFool, peers).
  public var rounds = 2
  /// Engine threads of each measurement (PyTorch gets the same).
  public var threadCounts = [1]
  /// Peer scripts (nil: not run): JAX's reference step, PyTorch's reference and digits steps,
  /// PyTorch's EfficientNet-Lite0 step on a checkpoint, PyTorch's step of the paper's networks.
  public var jaxPeer: String? = "bench/peers/jax_step.py"
  public var torchPeer: String? = "bench/peers/torch_step.py"
  public var torchEffnetPeer: String? = "bench/peers/torch_effnet_step.py"
  public var torchZooPeer: String? = "bench/peers/torch_zoo_step.py"
  /// The model whose fine-tuning step is timed (nil: the seeded digits CNN) and its reference.
  public var model: Model?
  public var modelReference: ModelReference?
  /// Batch size of the timed fine-tuning step.
  public var batch = 32
  /// Times only the fine-tuning steps and their peer (no reference workload, JAX or PyTorch
  /// reference steps, no separate-forward variant), so that this process's peak resident memory
  /// is the fine-tuning step's (beside the kernel throughput's small matrices).
  public var finetuneOnly = false

  public init() {}

  /// The PyTorch peer of the fine-tuning step, or why there is none.
  enum FineTunePeer {
    case digits
    case effnet(script: String, checkpoint: String)
    case zoo(script: String, architecture: String)
    case none(String)
  }

  /// The zoo architectures `torch_zoo_step.py` writes in PyTorch.
  static let zooPeerArchitectures: Set<String> = ["vgg11", "vgg16", "vgg19", "resnet18", "resnet50", "densenet121"]

  var fineTunePeer: FineTunePeer {
    guard let model else { return .digits }
    if model.architecture == "efficientnet-lite0", let script = torchEffnetPeer, let path = modelReference?.checkpointPath {
      return .effnet(script: script, checkpoint: path)
    }
    if Self.zooPeerArchitectures.contains(model.architecture) {
      guard let script = torchZooPeer else { return .none("the PyTorch peer of \(modelName)'s fine-tuning step is not run (no peer script)") }
      return .zoo(script: script, architecture: model.architecture)
    }
    return .none("no PyTorch peer for the fine-tuning step of \(modelName) (the digits CNN, an EfficientNet-Lite0 checkpoint and \(Self.zooPeerArchitectures.sorted().joined(separator: ", ")))")
  }

  var modelName: String { modelReference?.argument ?? model?.architecture ?? "digits CNN" }

  /// Runs every measurement, logging each figure as it comes; throws when the model cannot be
  /// fine-tuned (not an image model) or the step fails.
  public func run(log: (String) -> Void) throws -> StepBenchmarkReport {
    if let model { try FineTuneBenchmark.requireImageModel(model) }
    // Checked before anything runs: a batch of 100000 digits was killed by the OOM killer at 23.5 GB.
    let memory = FineTuneMemoryEstimate(model: try model ?? ModelZoo.build(architecture: "digits-cnn"), batchSize: batch)
    if let available = FineTuneMemoryEstimate.availableBytes(), memory.bytes > available {
      throw TrainingError(
        "a fine-tuning batch of \(batch) needs an estimated \(FineTuneMemoryEstimate.describe(memory.bytes)) but \(FineTuneMemoryEstimate.describe(available)) of memory is available",
        settings: ["finetuneBatch"])
    }
    let peer = fineTunePeer
    if case .none(let reason) = peer { log(reason) }
    let core = BLASRuntime.coreName
    var failed: [String: String] = [:]  // peer name -> why it did not run; it is not tried again
    func runPeer(_ name: String, _ script: String?, _ arguments: [String], keys: [String]) -> [String: Double]? {
      guard let script, failed[name] == nil else { return nil }
      switch PeerScript.run(script, arguments: ["--json"] + arguments, keys: keys) {
      case .success(let values): return values
      case .failure(let error):
        failed[name] = error.description
        log("\(name) peer not run: \(error.description)")
        return nil
      }
    }
    var report = StepBenchmarkReport(blasCore: core, model: modelName, batch: batch)
    for t in threadCounts {
      EngineThreads.set(t)
      log("OpenBLAS core \(core), \(t) thread(s) in the engine's pool, OpenBLAS on one; convolutions: \(Self.convolutionKernels)")
      if report.sgemmGflops == nil {
        let raw = KernelBenchmark.rawSgemmGFLOPs(), engine = KernelBenchmark.engineMatmulGFLOPs()
        log(String(format: "sgemm 512x512: raw %.1f GFLOP/s, through Tensor.matmul %.1f GFLOP/s (%.0f%%)", raw, engine, 100 * engine / raw))
        let conv = KernelBenchmark.convGFLOPs()
        log(String(format: "conv2d 16->32 3x3 on 32x32x32: forward %.1f GFLOP/s, backward %.1f GFLOP/s", conv.forward, conv.backward))
        (report.sgemmGflops, report.engineMatmulGflops) = (raw, engine)
        (report.convForwardGflops, report.convBackwardGflops) = (conv.forward, conv.backward)
      }
      var samples: [String: [Double]] = [:]
      func add(_ values: [String: Double]?, _ names: [(String, String)]) {
        for (key, field) in names { if let v = values?[key] { samples[field, default: []].append(v) } }
      }
      let reference = [("plain_step_ms", "plain"), ("double_backprop_step_ms", "double")]
      var peaks = (plain: 0.0, fooling: 0.0)
      let peerIterations = finetuneOnly ? iterations : 3
      for round in 1...rounds {
        // The fine-tuning steps, in every round beside their peer (the machine's drift between
        // rounds then falls on both).
        let steps = try FineTuneBenchmark.stepTimes(
          iterations: finetuneOnly ? iterations : (model == nil ? 10 : 3), batch: batch, model: model,
          separateForwards: !finetuneOnly)
        add(["plain": steps.plain, "fooling": steps.fooling], [("plain", "ft.plain"), ("fooling", "ft.fooling")])
        if let separate = steps.separate { add(["separate": separate], [("separate", "ft.separate")]) }
        peaks = (Swift.max(peaks.plain, steps.plainPeakMiB), Swift.max(peaks.fooling, steps.foolingPeakMiB))
        log(String(format: "round %d modelfool: %@ batch %d plain %.2f ms, Grad-CAM location %.2f ms", round, modelName as NSString, batch, steps.plain, steps.fooling))
        if !finetuneOnly {
          var workload = ReferenceWorkload(seed: 0)
          let plain = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: false) } * 1000
          let double = KernelBenchmark.medianSeconds(repeats: iterations) { workload.step(doubleBackprop: true) } * 1000
          add(["plain": plain, "double": double], [("plain", "plain"), ("double", "double")])
          log(String(format: "round %d modelfool: plain step %.2f ms, double-backprop step %.2f ms", round, plain, double))
        }
        if !finetuneOnly, t == 1, let jax = runPeer("jax", jaxPeer, ["--iterations", "\(iterations)"], keys: reference.map(\.0)) {
          add(jax, reference.map { ($0.0, "jax." + $0.1) })
          log(String(format: "round %d jax:       plain step %.2f ms, double-backprop step %.2f ms", round, jax["plain_step_ms"]!, jax["double_backprop_step_ms"]!))
        }
        let digits = [("finetune_plain_step_ms", "peer.plain"), ("finetune_gradcam_location_step_ms", "peer.fooling")]
        let torchKeys = reference.map(\.0) + (model == nil ? digits.map(\.0) : [])
        if !finetuneOnly, let torch = runPeer("pytorch", torchPeer, ["--iterations", "\(iterations)", "--threads", "\(t)"], keys: torchKeys) {
          add(torch, reference.map { ($0.0, "torch." + $0.1) } + (model == nil ? digits : []))
          log(String(format: "round %d pytorch:   plain step %.2f ms, double-backprop step %.2f ms", round, torch["plain_step_ms"]!, torch["double_backprop_step_ms"]!))
        }
        switch peer {
        case .effnet(let script, let checkpoint):
          let keys = ["effnet_plain_step_ms", "effnet_gradcam_location_step_ms"]
          let values = runPeer("pytorch EfficientNet-Lite0", script, ["--iterations", "\(peerIterations)", "--threads", "\(t)", "--batch", "\(batch)", "--checkpoint", checkpoint], keys: keys)
          add(values, [(keys[0], "peer.plain"), (keys[1], "peer.fooling")])
        case .zoo(let script, let architecture):
          let keys = ["zoo_plain_step_ms", "zoo_gradcam_location_step_ms", "peak_rss_mb"]
          let values = runPeer("pytorch \(architecture)", script, ["--arch", architecture, "--iterations", "\(peerIterations)", "--threads", "\(t)", "--batch", "\(batch)"], keys: keys)
          add(values, [(keys[0], "peer.plain"), (keys[1], "peer.fooling"), (keys[2], "peer.rss")])
        case .digits, .none: break
        }
        if let p = samples["peer.fooling"]?.last, let q = samples["peer.plain"]?.last {
          log(String(format: "round %d pytorch:   %@ batch %d plain %.2f ms, Grad-CAM location %.2f ms", round, modelName as NSString, batch, q, p))
        }
      }
      let mean = { (field: String) in samples[field].map { $0.reduce(0, +) / Double($0.count) } }
      var row = StepBenchmarkReport.Row(threads: t, plainStepMs: mean("plain"), doubleBackpropStepMs: mean("double"))
      (row.peerPlainStepMs, row.peerDoubleBackpropStepMs) = (mean("jax.plain"), mean("jax.double"))
      (row.torchPlainStepMs, row.torchDoubleBackpropStepMs) = (mean("torch.plain"), mean("torch.double"))
      (row.torchFinetunePlainStepMs, row.torchFinetuneGradcamLocationStepMs) = (mean("peer.plain"), mean("peer.fooling"))
      row.torchFinetunePeakRssMb = samples["peer.rss"]?.max()
      (row.finetunePlainStepMs, row.finetuneGradcamLocationStepMs) = (mean("ft.plain")!, mean("ft.fooling")!)
      row.finetuneSeparateForwardsStepMs = mean("ft.separate")
      (row.finetunePlainPeakTensorMb, row.finetuneGradcamLocationPeakTensorMb) = peaks
      row.computeRatios()
      log(String(format: "%@ batch %d, %d thread(s): tensor memory at most %.0f MiB in the plain step, %.0f MiB in the Grad-CAM location step", modelName as NSString, batch, t, peaks.plain, peaks.fooling))
      log(String(format: "%@ batch %d, %d thread(s): plain CE step %.2f ms, Grad-CAM location fine-tuning step %.2f ms (%.2fx", modelName as NSString, batch, t, row.finetunePlainStepMs, row.finetuneGradcamLocationStepMs, row.finetuneStepRatio) + (row.finetuneSeparateForwardsStepMs.map { String(format: "; with a separate forward for the explanation %.2f ms)", $0) } ?? ")"))
      if let a = row.plainRatioVsJax, let b = row.doubleBackpropRatioVsJax {
        log(String(format: "ratio to JAX, 1 thread (lower is faster): plain %.2fx, double backprop %.2fx", a, b))
      }
      if let a = row.plainRatioVsTorch, let b = row.doubleBackpropRatioVsTorch {
        log(String(format: "ratio to PyTorch, %d thread(s): plain %.2fx, double backprop %.2fx", t, a, b))
      }
      if let a = row.finetunePlainRatioVsTorch, let b = row.finetuneRatioVsTorch {
        log(String(format: "ratio to PyTorch, %d thread(s), %@ fine-tuning: plain %.2fx, Grad-CAM location %.2fx", t, modelName as NSString, a, b))
      }
      report.byThreads.append(row)
    }
    if report.byThreads.count > 1, let a = report.byThreads.first, let b = report.byThreads.last {
      let reference = a.plainStepMs.flatMap { p in b.plainStepMs.map { String(format: "plain %.2fx, ", p / $0) } } ?? ""
      let double = a.doubleBackpropStepMs.flatMap { p in b.doubleBackpropStepMs.map { String(format: "double backprop %.2fx, ", p / $0) } } ?? ""
      log(String(format: "%d vs %d thread(s) speed-up: %@%@%@ plain step %.2fx, Grad-CAM location step %.2fx", b.threads, a.threads, reference, double, modelName as NSString, a.finetunePlainStepMs / b.finetunePlainStepMs, a.finetuneGradcamLocationStepMs / b.finetuneGradcamLocationStepMs))
    }
    report.peakRssMb = KernelBenchmark.peakResidentMiB()
    if let rss = report.peakRssMb {
      let peer = report.byThreads.compactMap(\.torchFinetunePeakRssMb).max()
      log(String(format: "peak resident memory: %.0f MiB", rss) + (peer.map { String(format: " (PyTorch's %@ peer: %.0f MiB)", modelName as NSString, $0) } ?? ""))
    }
    return report
  }

  /// Which kernels run the convolutions (``ConvolutionKernels``).
  static var convolutionKernels: String {
    ConvolutionKernels.useOneDNN
      ? "oneDNN \(OneDNNConvolution.version) (\(OneDNNConvolution.isa)) where it won, else ours"
      : "ours (MODELFOOL_CONV_KERNELS=own)"
  }
}

/// What `bench step` measured: the kernels' throughput, then one row per thread count; the first
/// row's figures also appear at the top level of the JSON form (snake_case keys, ``RunJSON``).
public struct StepBenchmarkReport: Encodable, Sendable {
  public var blasCore: String
  public var model: String
  public var batch: Int
  public var sgemmGflops: Double?
  public var engineMatmulGflops: Double?
  public var convForwardGflops: Double?
  public var convBackwardGflops: Double?
  /// This process's peak resident memory over the whole benchmark, MiB.
  public var peakRssMb: Double?
  public var byThreads: [Row] = []

  /// One thread count's figures (milliseconds, means over rounds of per-round medians); peers'
  /// figures and ratios (ModelFool / peer, lower is faster) are nil where the peer did not run.
  public struct Row: Codable, Sendable {
    public var threads: Int
    /// The reference workload's steps (nil with ``StepBenchmark/finetuneOnly``).
    public var plainStepMs: Double?
    public var doubleBackpropStepMs: Double?
    public var finetunePlainStepMs = 0.0
    public var finetuneGradcamLocationStepMs = 0.0
    public var finetuneStepRatio = 0.0
    /// The former fine-tuning step whose explanation ran its own forward.
    public var finetuneSeparateForwardsStepMs: Double?
    /// The most tensor memory held at once during the plain and the Grad-CAM location steps
    /// (model, Adam state and activations; without the allocator's cached blocks), MiB.
    public var finetunePlainPeakTensorMb: Double?
    public var finetuneGradcamLocationPeakTensorMb: Double?
    /// JAX's reference steps (one thread).
    public var peerPlainStepMs: Double?
    public var peerDoubleBackpropStepMs: Double?
    public var torchPlainStepMs: Double?
    public var torchDoubleBackpropStepMs: Double?
    public var torchFinetunePlainStepMs: Double?
    public var torchFinetuneGradcamLocationStepMs: Double?
    /// The PyTorch fine-tuning peer's peak resident memory (its own process), MiB.
    public var torchFinetunePeakRssMb: Double?
    public var plainRatioVsJax: Double?
    public var doubleBackpropRatioVsJax: Double?
    public var plainRatioVsTorch: Double?
    public var doubleBackpropRatioVsTorch: Double?
    public var finetunePlainRatioVsTorch: Double?
    public var finetuneRatioVsTorch: Double?

    mutating func computeRatios() {
      finetuneStepRatio = finetuneGradcamLocationStepMs / finetunePlainStepMs
      let ratio = { (ours: Double?, peer: Double?) in ours.flatMap { a in peer.map { a / $0 } } }
      plainRatioVsJax = ratio(plainStepMs, peerPlainStepMs)
      doubleBackpropRatioVsJax = ratio(doubleBackpropStepMs, peerDoubleBackpropStepMs)
      plainRatioVsTorch = ratio(plainStepMs, torchPlainStepMs)
      doubleBackpropRatioVsTorch = ratio(doubleBackpropStepMs, torchDoubleBackpropStepMs)
      finetunePlainRatioVsTorch = torchFinetunePlainStepMs.map { finetunePlainStepMs / $0 }
      finetuneRatioVsTorch = torchFinetuneGradcamLocationStepMs.map { finetuneGradcamLocationStepMs / $0 }
    }
  }

  enum CodingKeys: String, CodingKey {
    case blasCore, model, batch, sgemmGflops, engineMatmulGflops, convForwardGflops, convBackwardGflops, peakRssMb, byThreads
  }

  public func encode(to encoder: Encoder) throws {
    try byThreads.first?.encode(to: encoder)
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(blasCore, forKey: .blasCore)
    try c.encode(model, forKey: .model)
    try c.encode(batch, forKey: .batch)
    try c.encodeIfPresent(sgemmGflops, forKey: .sgemmGflops)
    try c.encodeIfPresent(engineMatmulGflops, forKey: .engineMatmulGflops)
    try c.encodeIfPresent(convForwardGflops, forKey: .convForwardGflops)
    try c.encodeIfPresent(convBackwardGflops, forKey: .convBackwardGflops)
    try c.encodeIfPresent(peakRssMb, forKey: .peakRssMb)
    try c.encode(byThreads, forKey: .byThreads)
  }
}
