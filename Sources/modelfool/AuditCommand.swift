import ArgumentParser

/// `modelfool audit`: the auditor's side, sanity checks of explanation methods and a detector of
/// models fine-tuned to fool their explanations.
struct AuditCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit", abstract: "Audit explanations: sanity checks (Adebayo et al. 2018) and a detector of manipulated models.",
    subcommands: [AuditSanityCommand.self, AuditManipulationCommand.self, AuditCalibrateCommand.self, AuditAdaptiveCommand.self])
}
