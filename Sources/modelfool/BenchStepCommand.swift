import ArgumentParser
import ModelFoolBenchmarks
import ModelFoolTraining

/// `modelfool bench step` (the default of `modelfool bench`): a ``StepBenchmark``, its figures
/// logged as they come, then its report as one JSON object with `--json`.
struct BenchStepCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "step",
    abstract: "Benchmark the engine (sgemm, conv, training steps) against JAX and PyTorch peers, on one thread and on all cores.")

  @Option(help: "Timed steps per variant and round.") var iterations = 20
  @Option(help: "Alternating rounds of (ModelFool, peers).") var rounds = 2
  @Option(help: "Thread counts to measure, comma-separated; 'all' is every core (the engine's pool; PyTorch gets the same).")
  var threads = "1,all"
  @Option(help: "JAX peer script (one thread only); 'none' skips it.") var peer = "bench/peers/jax_step.py"
  @Option(help: "PyTorch eager peer script; 'none' skips it.") var torchPeer = "bench/peers/torch_step.py"
  @Option(help: "PyTorch eager peer of the EfficientNet-Lite0 fine-tuning step (with an EfficientNet-Lite0 checkpoint as --finetune-model); 'none' skips it.")
  var torchEffnetPeer = "bench/peers/torch_effnet_step.py"
  @Option(help: "PyTorch eager peer of the VGG, ResNet and DenseNet fine-tuning steps (with zoo:ARCH or such a checkpoint as --finetune-model); 'none' skips it.")
  var torchZooPeer = "bench/peers/torch_zoo_step.py"
  @Option(help: ArgumentHelp("Time the fine-tuning step on this model instead of the digits CNN (\(ModelReference.argumentHelp); zoo:ARCH has random weights, e.g. zoo:resnet50).", valueName: "model"))
  var finetuneModel: ModelReference?
  @Option(help: "Batch size of the timed fine-tuning step.") var finetuneBatch = 32
  @Flag(help: "Time only the fine-tuning steps and their PyTorch peer, --iterations steps each per round (the process's peak memory is then the step's).")
  var finetuneOnly = false
  @Flag(help: "Print one JSON object on stdout.") var json = false

  /// The largest `--finetune-batch`; the memory estimate may refuse a smaller one.
  static let maxFinetuneBatch = 4096

  func validate() throws {
    guard iterations > 0, rounds > 0 else { throw ValidationError("--iterations and --rounds must be positive") }
    guard (1...Self.maxFinetuneBatch).contains(finetuneBatch) else {
      throw ValidationError("--finetune-batch must be between 1 and \(Self.maxFinetuneBatch), got \(finetuneBatch)")
    }
    guard parseThreadCounts(threads, allowingAll: true) != nil else {
      throw ValidationError("--threads: expected positive whole numbers or 'all', comma-separated, got '\(threads)'")
    }
  }

  func run() throws {
    var bench = StepBenchmark()
    (bench.iterations, bench.rounds, bench.batch, bench.finetuneOnly) = (iterations, rounds, finetuneBatch, finetuneOnly)
    bench.threadCounts = parseThreadCounts(threads, allowingAll: true) ?? []
    let script = { (path: String) in path == "none" ? nil : path }
    (bench.jaxPeer, bench.torchPeer) = (script(peer), script(torchPeer))
    (bench.torchEffnetPeer, bench.torchZooPeer) = (script(torchEffnetPeer), script(torchZooPeer))
    bench.modelReference = finetuneModel
    bench.model = try finetuneModel?.resolve(log: logLine)
    warnIfGenericBLASCore()
    let report = try bench.run(log: logLine)
    if json { print(try RunJSON.encode(report)) }
  }
}
