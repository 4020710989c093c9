import ArgumentParser

@main
struct ModelFoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "modelfool",
    abstract: "Attack neural-network explanations: model and input manipulation.",
    subcommands: [TrainCommand.self, ImportCommand.self, EvaluateCommand.self, PredictCommand.self, BenchCommand.self, BenchForwardCommand.self])
}
