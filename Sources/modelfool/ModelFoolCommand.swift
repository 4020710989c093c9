import ArgumentParser
import Foundation

@main
struct ModelFoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "modelfool",
    abstract: "Attack neural-network explanations: model and input manipulation.",
    subcommands: [
      TrainCommand.self, FinetuneCommand.self, EvaluateCommand.self, ExplainCommand.self,
      PredictCommand.self, AttackInputCommand.self, ImportCommand.self, BenchCommand.self, BenchForwardCommand.self,
    ])

  /// Parses and runs a command; help and version go to stdout as usual, every error becomes one
  /// line on stderr (``ErrorReporting``) and a non-zero exit.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .success {  // --help, --version
        exit(withError: error)
      }
      let (message, status) = ErrorReporting.report(error, command: Self.self)
      FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
      Foundation.exit(status)
    }
  }
}
