import ArgumentParser
import Foundation
import ModelFoolVersionInfo

@main
struct ModelFoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "modelfool",
    abstract: "Attack neural-network explanations: model and input manipulation.",
    version: "modelfool \(ModelFoolVersion.description)",
    subcommands: [
      TrainCommand.self, FinetuneCommand.self, EvaluateCommand.self, ExplainCommand.self,
      PredictCommand.self, AttackInputCommand.self, ImportCommand.self, BenchCommand.self, AuditCommand.self,
      SweepCommand.self,
    ])

  /// Parses and runs a command. Help, `--version` and completion scripts print as usual; any
  /// failure prints one line, `Error: MESSAGE`, on stderr (``ErrorReporting``; no usage screen:
  /// `--help` has it) and exits non-zero (64 for a usage error, 1 otherwise).
  static func main() {
    Signals.install()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      if exitCode(for: error) == .success { Self.exit(withError: error) }
      let (message, status) = ErrorReporting.report(error, command: Self.self)
      if !message.isEmpty { FileHandle.standardError.write(Data("Error: \(message)\n".utf8)) }
      Foundation.exit(status)
    }
  }
}
