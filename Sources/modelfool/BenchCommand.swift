import ArgumentParser

/// `modelfool bench`: the benchmarks, one subcommand each; `bench` alone runs `bench step`.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract:
      "Benchmark the engine: the reference training step (default), a model's forward pass, explanations, the image pipeline, convolutions against oneDNN.",
    subcommands: [
      BenchStepCommand.self, BenchForwardCommand.self, BenchExplainCommand.self, BenchPipelineCommand.self,
      BenchConvCommand.self,
    ],
    defaultSubcommand: BenchStepCommand.self)
}
