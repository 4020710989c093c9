import ArgumentParser
import ModelFool
import ModelFoolBenchmarks

/// `modelfool bench conv`: the engine's convolution kernels against oneDNN, per shape and pass.
struct BenchConvCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "conv",
    abstract: "Time the engine's convolutions (forward, backward-data, backward-weights) against oneDNN on NCHW and on its blocked layouts (reorders included).")

  @Option(help: "Timed calls per kernel (median reported).")
  var iterations = 10

  @Option(help: "Thread counts, comma-separated (the engine's pool and oneDNN's OpenMP threads alike).")
  var threads = "1,2"

  @Option(help: "Only the shapes whose name contains this text (e.g. 'effnet', 'dw5x5').")
  var shapes = ""

  func validate() throws {
    guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
    guard !threadCounts.isEmpty else {
      throw ValidationError("--threads: expected positive whole numbers, comma-separated, got '\(threads)'")
    }
    guard shapes.isEmpty || ConvBenchmark.shapes.contains(where: { $0.name.contains(shapes) }) else {
      throw ValidationError("--shapes: no shape name contains '\(shapes)' (names: \(ConvBenchmark.shapes.map(\.name).joined(separator: ", ")))")
    }
  }

  private var threadCounts: [Int] { parseThreadCounts(threads, allowingAll: false) ?? [] }

  func run() throws {
    warnIfGenericBLASCore()
    logLine("OpenBLAS core \(BLASRuntime.coreName) (one thread); \(ConvBenchmark.oneDNNDescription); GFLOP/s, ratio oneDNN / ours")
    _ = try ConvBenchmark.run(threadCounts: threadCounts, repeats: iterations, filter: shapes, log: logLine)
  }
}
