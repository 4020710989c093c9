import ArgumentParser

/// `modelfool bench`: the benchmarks, one subcommand each; `bench` alone runs `bench step`.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Benchmark the engine: the reference training step (default), a model's forward pass, explanations.",
    subcommands: [BenchStepCommand.self, BenchForwardCommand.self, BenchExplainCommand.self],
    defaultSubcommand: BenchStepCommand.self)
}
