import ArgumentParser

@main
struct ModelFoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "modelfool",
    abstract: "Attack neural-network explanations: model and input manipulation.",
    subcommands: [
      TrainCommand.self, FinetuneCommand.self, EvaluateCommand.self, ExplainCommand.self,
      PredictCommand.self, AttackInputCommand.self, ImportCommand.self, BenchCommand.self,
    ])
}
