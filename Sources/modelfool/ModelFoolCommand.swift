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
      PredictCommand.self, AttackInputCommand.self, ImportCommand.self, BenchCommand.self, BenchForwardCommand.self,
    ])

  /// Parses and runs a command. Help, `--version` and completion scripts print as usual; any
  /// failure prints one line, `Error: MESSAGE`, on stderr (no usage screen: `--help` has it) and
  /// exits with ArgumentParser's code (64 for a usage error, 1 otherwise).
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      let code = exitCode(for: error)
      if code == .success { Self.exit(withError: error) }
      let text = message(for: error).split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
      if !text.isEmpty { FileHandle.standardError.write(Data("Error: \(text)\n".utf8)) }
      Foundation.exit(code.rawValue)
    }
  }
}
