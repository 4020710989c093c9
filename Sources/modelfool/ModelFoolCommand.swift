import ArgumentParser
import Foundation
import ModelFoolTraining
import ModelFoolVersionInfo

@main
struct ModelFoolCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "modelfool",
    abstract: "Attack neural-network explanations: model and input manipulation.",
    version: "modelfool \(ModelFoolVersion.description)",
    subcommands: [
      TrainCommand.self, FinetuneCommand.self, EvaluateCommand.self, ExplainCommand.self,
      PredictCommand.self, AttackInputCommand.self, ImportCommand.self, ExportCommand.self, BenchCommand.self, AuditCommand.self,
      SweepCommand.self, ScaffoldCommand.self, BiasedBackgroundCommand.self,
    ])

  /// Parses and runs a command. Help, `--version` and completion scripts print as usual; any
  /// failure prints one line, `Error: MESSAGE`, on stderr (``ErrorReporting``; no usage screen:
  /// `--help` has it) and exits non-zero (64 for a usage error, 1 otherwise).
  static func main() {
    Signals.install()
    Ranks.start()
    do {
      var command = try parseAsRoot()
      try command.run()
      Ranks.finish()
    } catch {
      if exitCode(for: error) == .success { Ranks.finish(); Self.exit(withError: error) }
      let (message, status) = ErrorReporting.report(error, command: Self.self)
      // A rank of an MPI job that fails takes the whole job down (no rank left waiting in a
      // collective call), after one line naming it; a stop on request ends every rank alike.
      if Ranks.communicator.size > 1 && !(error is RunInterrupted) {
        Ranks.abort("Error: rank \(Ranks.communicator.rank) of \(Ranks.communicator.size): \(message)", code: status)
      }
      if !message.isEmpty && Ranks.isRoot { StandardError.writeLast("Error: \(message)\n") }
      Ranks.finish()
      Foundation.exit(status)
    }
  }
}
